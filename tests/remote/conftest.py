"""Remotes to test against, through the same code: a local directory, and an S3 server on
127.0.0.1 (moto) with a bucket made for each test."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from conftest import Invoke, counted, git, git_commit, git_init, write_tree

from mlpipe.state.hashing import hash_bytes, is_dir_hash

S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
          "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class RemoteUnderTest:
    """A remote a test pushes to: its URL and options, and a filesystem to look inside it.

    Attributes:
        kind: `local` or `s3`.
        url: What `mlpipe remote add` gets.
        options: Storage options (`-o key=value`).
        fs: An fsspec filesystem on which `root` is the remote's root.
        root: The remote's root on `fs`.
    """

    kind: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)
    fs: Any = None
    root: str = ""

    def option_args(self) -> list[str]:
        return [arg for key, value in self.options.items() for arg in ("-o", f"{key}={value}")]

    def objects(self) -> dict[str, bytes]:
        """Digest -> bytes of every object under its final name."""
        self.fs.invalidate_cache()
        found = {}
        for path in self.fs.find(f"{self.root}/objects"):
            shard, name = path.rsplit("/", 2)[-2:]
            found[shard + name] = self.fs.cat_file(path)
        return found

    def entries(self) -> list[str]:
        self.fs.invalidate_cache()
        return sorted(p.rsplit("/", 1)[-1] for p in self.fs.find(f"{self.root}/runs"))


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on a free loopback port, for the whole session."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def local_remote(tmp_path: Path) -> RemoteUnderTest:
    """A fresh remote in a local directory."""
    import fsspec

    root = tmp_path / "remote"
    return RemoteUnderTest("local", str(root), {}, fsspec.filesystem("file"), str(root))


@pytest.fixture(params=["local", "s3"])
def remote(request: pytest.FixtureRequest, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> RemoteUnderTest:
    """A fresh, empty remote: a directory, or a new bucket on the moto server."""
    if request.param == "local":
        return request.getfixturevalue("local_remote")
    endpoint = request.getfixturevalue("s3_endpoint")
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True)
    bucket = f"mlpipe-{uuid.uuid4().hex[:12]}"
    fs.mkdir(bucket)
    return RemoteUnderTest("s3", f"s3://{bucket}/team/cache", {"endpoint_url": endpoint}, fs,
                           f"{bucket}/team/cache")


STAGES = ("prepare", "train", "score")
PIPELINE = f"""
params:
  train:
    lr: 0.1
stages:
  prepare:
    kind: command
    cmd: {counted("prepare", "mkdir -p features && cp raw.csv features/a.csv && "
                             "sort raw.csv > features/b.csv")}
    deps: [raw.csv]
    outs: [features]
  train:
    kind: command
    cmd: {counted("train", "cat features/a.csv > model.txt && echo ${params.train.lr} >> "
                           "model.txt")}
    deps: [features]
    outs: [model.txt]
  score:
    kind: command
    cmd: {counted("score", "wc -l < model.txt > lines.txt && echo '{}' > metrics.json")}
    deps: [model.txt]
    outs: [lines.txt]
    metrics: [metrics.json]
"""


@pytest.fixture
def clones(tmp_path: Path) -> tuple[Path, Path]:
    """Clone A (pipeline committed, not yet run) and the path clone B will take."""
    a = tmp_path / "a"
    a.mkdir()
    git_init(a)
    write_tree(a, {"mlpipe.yaml": PIPELINE, "raw.csv": "b\na\nc\n" * 200})
    (a / ".gitignore").write_text(
        ".mlpipe/\nruns/\nfeatures/\nmodel.txt\nlines.txt\nmetrics.json\n")
    git_commit(a, "pipeline")
    return a, tmp_path / "b"


def clone(a: Path, b: Path) -> None:
    git(a.parent, "clone", "-q", str(a), str(b))


def in_clone(mlpipe: Invoke, root: Path, remote: RemoteUnderTest, *args: str) -> Result:
    """Run a command in a clone (`-f` its pipeline file); set up its remote on first use."""
    if not (root / ".mlpipe" / "remotes.yaml").exists():
        added = mlpipe("remote", "add", "origin", remote.url, "--default",
                       *remote.option_args(), "-f", str(root / "mlpipe.yaml"))
        assert added.exit_code == 0, added.output
    return mlpipe(*args, "-f", str(root / "mlpipe.yaml"))


def check_remote_complete(remote: RemoteUnderTest) -> None:
    """Every object on the remote under a final name holds the bytes its name promises."""
    for digest, data in remote.objects().items():
        if is_dir_hash(digest):
            assert hash_bytes(data) + ".dir" == digest
        else:
            assert hash_bytes(data) == digest

"""Transfers that go wrong: a push cut off halfway, an object corrupted on the remote.

Neither may leave a bad object under a real name, on the remote or in the local store; the
next push completes what was cut off, and a corrupt object makes its stage run instead of
being restored.
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest
from conftest import Invoke, git_commit, runs_of, statuses

from mlpipe.state.hashing import hash_file

from .conftest import STAGES, RemoteUnderTest, check_remote_complete, clone, in_clone


def test_an_interrupted_push_leaves_no_partial_object_and_the_next_push_completes_it(
        clones: tuple[Path, Path], local_remote: RemoteUnderTest, mlpipe: Invoke,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from fsspec.implementations.local import LocalFileSystem

    a, b = clones
    remote = local_remote
    assert in_clone(mlpipe, a, remote, "run").exit_code == 0
    real_put = LocalFileSystem.put_file
    calls = []
    lock = threading.Lock()

    def cut_after_two(self: LocalFileSystem, lpath: str, rpath: str, **kwargs: object) -> None:
        with lock:
            calls.append(rpath)
            if len(calls) > 2:  # half of the bytes reach the temporary name, then it breaks
                data = Path(lpath).read_bytes()
                Path(rpath).write_bytes(data[: len(data) // 2])
                raise OSError("connection reset by peer")
        real_put(self, lpath, rpath, **kwargs)

    monkeypatch.setattr(LocalFileSystem, "put_file", cut_after_two)
    monkeypatch.setattr(LocalFileSystem, "rm_file", lambda self, path: None)  # killed: no cleanup
    cut = in_clone(mlpipe, a, remote, "push", "-j", "1")
    assert cut.exit_code == 1
    assert "upload failed (OSError: connection reset by peer)" in cut.stderr
    assert "push incomplete" in cut.stderr
    sent_first = remote.objects()
    assert len(sent_first) == 2
    check_remote_complete(remote)
    for name in remote.entries():  # an entry goes up only after all its objects
        entry = json.loads(remote.fs.cat_file(f"{remote.root}/runs/{name[:2]}/{name}"))
        assert set(entry["outs"].values()) <= set(sent_first)
    assert len(remote.entries()) < 3
    leftovers = list((Path(remote.root) / "tmp").iterdir())
    assert len(leftovers) == 3  # each cut file stayed under its temporary name (the
    # directory's manifest was not sent: its files were not all there)
    monkeypatch.undo()
    done = in_clone(mlpipe, a, remote, "push")
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("pushed 4 objects") and "2 already there" in done.stdout
    check_remote_complete(remote)
    git_commit(a, "lock")
    clone(a, b)
    pulled = in_clone(mlpipe, b, remote, "pull")
    assert pulled.exit_code == 0, pulled.output
    assert statuses(in_clone(mlpipe, b, remote, "run", "--json")) == dict.fromkeys(
        STAGES, "restored")


def test_a_corrupt_object_on_the_remote_is_refused_and_its_stage_runs(
        clones: tuple[Path, Path], remote: RemoteUnderTest, mlpipe: Invoke) -> None:
    a, b = clones
    assert in_clone(mlpipe, a, remote, "run", "--push").exit_code == 0
    git_commit(a, "lock")
    digest = hash_file(a / "model.txt")
    path = f"{remote.root}/objects/{digest[:2]}/{digest[2:]}"
    remote.fs.pipe_file(path, b"not the model\n")
    clone(a, b)
    pulled = in_clone(mlpipe, b, remote, "pull")
    assert pulled.exit_code == 1
    assert f"{digest} (stage 'train' output model.txt): content on the remote does not " \
           "match its hash" in pulled.stderr
    assert len(pulled.stderr.strip().splitlines()) == 2  # the failure, then the error line
    local = b / ".mlpipe" / "cache" / "objects"
    assert not (local / digest[:2] / digest[2:]).exists()
    for stored in (p for p in local.rglob("*") if p.is_file() and not p.name.endswith(".dir")):
        assert hash_file(stored) == stored.parent.name + stored.name
    result = in_clone(mlpipe, b, remote, "run", "--json")
    assert statuses(result) == {"prepare": "restored", "train": "ran", "score": "restored"}
    assert [runs_of(b, s) for s in STAGES] == [0, 1, 0]
    shutil.rmtree(b / ".mlpipe" / "cache")
    for path in ("features", "model.txt", "lines.txt"):
        shutil.rmtree(b / path) if (b / path).is_dir() else (b / path).unlink()
    warned = in_clone(mlpipe, b, remote, "run", "--pull")
    assert warned.exit_code == 0
    assert f"warning: pull from {remote.url}: {digest}" in warned.stdout
    assert runs_of(b, "train") == 2

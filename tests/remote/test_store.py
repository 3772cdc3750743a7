"""The remote store: checked uploads and downloads, writes under temporary names, bulk listing."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from mlpipe.errors import RemoteError
from mlpipe.remote.cache import Corrupt, RemoteStore, manifest_digests
from mlpipe.remote.fs import Opened, open_remote
from mlpipe.state.hashing import hash_bytes, manifest_bytes
from mlpipe.state.objects import ObjectStore
from mlpipe.state.runcache import RunEntry


@pytest.fixture
def remote(tmp_path: Path) -> RemoteStore:
    return RemoteStore(open_remote(str(tmp_path / "remote"), {}))


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return ObjectStore(tmp_path / "local" / "objects")


def put(store: ObjectStore, data: bytes, tmp_path: Path) -> str:
    digest = hash_bytes(data)
    src = tmp_path / f"src-{digest}"
    src.write_bytes(data)
    store.put_file(src, digest)
    return digest


def remote_files(remote: RemoteStore) -> list[str]:
    root = Path(remote.root)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_upload_then_download_round_trip(remote: RemoteStore, store: ObjectStore,
                                         tmp_path: Path) -> None:
    digest = put(store, b"model bytes", tmp_path)
    assert remote.upload_object(store.path_of(digest), digest) == len(b"model bytes")
    assert remote_files(remote) == [f"objects/{digest[:2]}/{digest[2:]}"]  # no temporary left
    other = ObjectStore(tmp_path / "other")
    assert remote.download_object(digest, other.path_of(digest)) == len(b"model bytes")
    assert other.path_of(digest).read_bytes() == b"model bytes"
    assert not other.path_of(digest).stat().st_mode & stat.S_IWUSR  # read-only like the store
    assert [p.name for p in other.path_of(digest).parent.iterdir()] == [digest[2:]]


def test_a_corrupt_local_object_is_not_uploaded(remote: RemoteStore, store: ObjectStore,
                                                tmp_path: Path) -> None:
    digest = put(store, b"good", tmp_path)
    path = store.path_of(digest)
    path.chmod(0o644)
    path.write_bytes(b"bad!")
    with pytest.raises(Corrupt, match="local object does not match its hash"):
        remote.upload_object(path, digest)
    assert remote_files(remote) == []


def test_corrupt_remote_bytes_never_reach_the_local_store(remote: RemoteStore,
                                                          store: ObjectStore,
                                                          tmp_path: Path) -> None:
    digest = put(store, b"the real bytes", tmp_path)
    remote.upload_object(store.path_of(digest), digest)
    Path(remote.object_path(digest)).write_bytes(b"the fake bytes")
    other = ObjectStore(tmp_path / "other")
    with pytest.raises(Corrupt, match="content on the remote does not match its hash"):
        remote.download_object(digest, other.path_of(digest))
    assert list(other.path_of(digest).parent.iterdir()) == []  # no object, no temporary


def test_a_failed_move_leaves_nothing_under_the_final_name(remote: RemoteStore,
                                                           store: ObjectStore, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    digest = put(store, b"x" * 1000, tmp_path)

    def broken_mv(*args: object, **kwargs: object) -> None:
        raise OSError("network went away")

    monkeypatch.setattr(remote.fs, "mv", broken_mv)
    with pytest.raises(OSError, match="network went away"):
        remote.upload_object(store.path_of(digest), digest)
    assert remote_files(remote) == []  # the temporary upload was removed too


class ListingFS:
    """A remote that only lists, and counts its requests."""

    protocol = "memory"

    def __init__(self, paths: set[str]) -> None:
        self.paths = paths
        self.calls: list[str] = []

    def invalidate_cache(self, path: str | None = None) -> None:
        """Nothing cached."""

    def ls(self, path: str, detail: bool = False) -> list[str]:
        self.calls.append("ls")
        found = [p for p in self.paths if p.rsplit("/", 1)[0] == path]
        if not found:
            raise FileNotFoundError(path)
        return found

    def find(self, path: str) -> list[str]:
        self.calls.append("find")
        return [p for p in self.paths if p.startswith(path + "/")]


def listing_remote(held: list[str]) -> tuple[RemoteStore, ListingFS]:
    fs = ListingFS({f"r/objects/{d[:2]}/{d[2:]}" for d in held})
    return RemoteStore(Opened(fs, "r", "memory://r")), fs


DIGESTS = [hash_bytes(f"object {i}".encode()) for i in range(300)]


def test_a_few_objects_cost_one_listing_per_shard() -> None:
    wanted = [d for d in DIGESTS if d[0] == "0"][:6]
    remote, fs = listing_remote(wanted[:3])
    assert remote.existing_objects(wanted) == set(wanted[:3])
    assert fs.calls == ["ls"] * len({d[:2] for d in wanted})


def test_many_objects_on_a_small_remote_cost_two_listings() -> None:
    remote, fs = listing_remote(DIGESTS[:150])
    assert remote.existing_objects(DIGESTS) == set(DIGESTS[:150])
    assert fs.calls == ["ls", "find"]  # one shard to estimate the size, then everything


def test_many_objects_on_a_large_remote_cost_one_listing_per_shard() -> None:
    crowded = min(d[:2] for d in DIGESTS)  # the shard listed first
    filler = [crowded + f"{i:030x}" for i in range(100)]  # ~25,600 objects, estimated
    remote, fs = listing_remote([*DIGESTS[:150], *filler])
    assert remote.existing_objects(DIGESTS) == set(DIGESTS[:150])
    assert fs.calls == ["ls"] * len({d[:2] for d in DIGESTS}) < ["ls"] * len(DIGESTS)


def test_entries_round_trip_and_a_bad_one_is_refused(remote: RemoteStore) -> None:
    key = "ab" + "1" * 30
    entry = RunEntry({"model.txt": "c" * 32}, "deadbeef")
    remote.upload_entry(key, entry)
    assert remote.existing_entries([key, "cd" + "2" * 30]) == {key}
    assert remote.download_entry(key) == entry
    Path(remote.entry_path(key)).write_text('{"format": 99}')
    with pytest.raises(Corrupt, match="run-cache entry on the remote is unusable"):
        remote.download_entry(key)


@pytest.mark.parametrize("outs", [{"../../.bashrc": "1" * 32}, {"/etc/passwd": "1" * 32},
                                  {"model.txt": "../../../tmp/x"}, {"": "1" * 32}])
def test_an_entry_leading_outside_the_root_or_the_store_is_refused(
        remote: RemoteStore, outs: dict[str, str]) -> None:
    key = "ab" + "1" * 30
    Path(remote.entry_path(key)).parent.mkdir(parents=True)
    Path(remote.entry_path(key)).write_text(json.dumps({"format": 1, "outs": outs,
                                                        "commit": None}))
    # A bad path is refused by the entry's own check (naming the path), a bad digest here.
    with pytest.raises(Corrupt, match=r"unusable \(path '.*' (leaves the root|is absolute|is "
                                      r"not a non-empty)|not an output path and a digest"):
        remote.download_entry(key)


def test_manifests_are_checked(remote: RemoteStore, store: ObjectStore, tmp_path: Path) -> None:
    files = [("a.csv", "1" * 32), ("sub/b.csv", "2" * 32)]
    data = manifest_bytes(files)
    digest = hash_bytes(data) + ".dir"
    (tmp_path / "m").write_bytes(data)
    remote.upload_object(tmp_path / "m", digest)
    assert remote.read_manifest(digest) == (data, ["1" * 32, "2" * 32])
    Path(remote.object_path(digest)).write_bytes(data.replace(b"1", b"3"))
    with pytest.raises(Corrupt, match="directory manifest on the remote does not match"):
        remote.read_manifest(digest)


@pytest.mark.parametrize("data", [b"not json", b'{"a": 1}', b'[["a", "../../etc"]]',
                                  b'[["a", "' + b"1" * 32 + b'.dir"]]'])
def test_manifest_contents_must_be_file_digests(data: bytes) -> None:
    with pytest.raises(Corrupt):
        manifest_digests(data)


def test_an_unreachable_remote_fails_once_with_one_line(tmp_path: Path) -> None:
    class Unreachable:
        protocol = "s3"

        def exists(self, path: str) -> bool:
            raise ConnectionError("Could not connect to the endpoint URL\nsecond line")

    remote = RemoteStore(Opened(Unreachable(), "bucket/p", "s3://bucket/p"))
    with pytest.raises(RemoteError, match=r"^remote 's3://bucket/p': cannot be reached "
                                          r"\(ConnectionError: Could not connect to the "
                                          r"endpoint URL\); check the URL") as info:
        remote.probe()
    assert "\n" not in str(info.value)


class RecordingFS:
    """A filesystem that records writes and moves."""

    def __init__(self, protocol: str | tuple[str, ...]) -> None:
        self.protocol = protocol
        self.calls: list[tuple[str, ...]] = []

    def put_file(self, local: str, remote: str) -> None:
        self.calls.append(("put", remote))

    def mv(self, source: str, dest: str) -> None:
        self.calls.append(("mv", source, dest))


@pytest.mark.parametrize("protocol, atomic", [(("s3", "s3a"), True), ("gs", True),
                                              ("sftp", False), (("file", "local"), False)])
def test_only_stores_with_atomic_uploads_skip_the_temporary_name(
        store: ObjectStore, tmp_path: Path, protocol: str | tuple[str, ...],
        atomic: bool) -> None:
    digest = put(store, b"bytes", tmp_path)
    fs = RecordingFS(protocol)
    remote = RemoteStore(Opened(fs, str(tmp_path / "r"), "x://r"))
    remote.upload_object(store.path_of(digest), digest)
    final = remote.object_path(digest)
    if atomic:
        assert fs.calls == [("put", final)]
    else:
        (put_call, tmp), move = fs.calls
        assert put_call == "put" and tmp.startswith(f"{remote.root}/tmp/{digest[2:]}.")
        assert move == ("mv", tmp, final)

"""store.ObjectStore: content-addressed outputs, verified on every restore."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mlpipe.errors import CacheCorrupt
from mlpipe.state.hashing import dir_hash, hash_bytes
from mlpipe.state.objects import Manifest, MissingObject, ObjectStore

MODEL = b"pretend this is a pickled model"
TREE = {"a.csv": b"1,2\n", "sub/b.csv": b"3,4\n", "sub/deeper/c.txt": b"c"}


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return ObjectStore(tmp_path / ".mlpipe" / "cache" / "objects")


@pytest.fixture
def work(tmp_path: Path) -> Path:
    root = tmp_path / "work"
    root.mkdir()
    return root


def put_model(store: ObjectStore, work: Path) -> str:
    src = work / "model.pkl"
    src.write_bytes(MODEL)
    digest = hash_bytes(MODEL)
    store.put_file(src, digest)
    return digest


def put_tree(store: ObjectStore, work: Path) -> tuple[str, Manifest]:
    src = work / "features"
    for rel, data in TREE.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    manifest = sorted((rel, hash_bytes(data)) for rel, data in TREE.items())
    digest = dir_hash(manifest)
    store.put_tree(src, manifest, digest)
    return digest, manifest


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def overwrite(path: Path, data: bytes) -> None:
    """Damage a stored object (objects are read-only)."""
    os.chmod(path, 0o644)
    path.write_bytes(data)


class TestFiles:
    def test_put_and_restore(self, store: ObjectStore, work: Path) -> None:
        digest = put_model(store, work)
        assert store.path_of(digest) == store.objects_dir / digest[:2] / digest[2:]
        assert store.path_of(digest).read_bytes() == MODEL
        dest = work / "restored" / "model.pkl"
        assert store.restore(digest, dest) is None
        assert dest.read_bytes() == MODEL
        assert stat.S_IMODE(dest.stat().st_mode) & 0o200  # the copy is writable again

    def test_stored_objects_are_read_only(self, store: ObjectStore, work: Path) -> None:
        digest = put_model(store, work)
        assert stat.S_IMODE(store.path_of(digest).stat().st_mode) == 0o444

    def test_restoring_the_file_does_not_move_the_object(self, store: ObjectStore,
                                                         work: Path) -> None:
        digest = put_model(store, work)
        store.restore(digest, work / "one")
        store.restore(digest, work / "two")
        assert (work / "two").read_bytes() == MODEL and store.has(digest)

    def test_restore_replaces_whatever_is_in_the_way(self, store: ObjectStore,
                                                     work: Path) -> None:
        digest = put_model(store, work)
        (work / "as_file").write_bytes(b"old")
        (work / "as_dir" / "x").mkdir(parents=True)
        store.restore(digest, work / "as_file")
        store.restore(digest, work / "as_dir")
        assert (work / "as_file").read_bytes() == MODEL
        assert (work / "as_dir").read_bytes() == MODEL

    def test_a_corrupt_object_is_refused_and_removed(self, store: ObjectStore,
                                                     work: Path) -> None:
        digest = put_model(store, work)
        overwrite(store.path_of(digest), b"bit rot")
        dest = work / "model.pkl"
        with pytest.raises(CacheCorrupt, match="content does not match its hash") as info:
            store.restore(digest, dest)
        assert info.value.path == store.path_of(digest)
        assert not store.path_of(digest).exists() and not store.has(digest)
        assert dest.read_bytes() == MODEL  # the file in the work tree is left alone
        assert sorted(p.name for p in work.iterdir()) == ["model.pkl"]  # no temp files

    def test_missing_object(self, store: ObjectStore, work: Path) -> None:
        with pytest.raises(MissingObject):
            store.restore(hash_bytes(b"never stored"), work / "x")
        assert not (work / "x").exists()


class TestDirectories:
    def test_put_and_restore(self, store: ObjectStore, work: Path) -> None:
        digest, manifest = put_tree(store, work)
        dest = work / "restored" / "features"
        assert store.restore(digest, dest) == manifest
        assert files_under(dest) == TREE

    def test_restore_replaces_an_existing_directory(self, store: ObjectStore,
                                                    work: Path) -> None:
        digest, _ = put_tree(store, work)
        (work / "features" / "stale.csv").write_bytes(b"stale")
        (work / "features" / "a.csv").write_bytes(b"edited")
        store.restore(digest, work / "features")
        assert files_under(work / "features") == TREE
        assert sorted(p.name for p in work.iterdir()) == ["features"]

    def test_an_empty_directory(self, store: ObjectStore, work: Path) -> None:
        digest = dir_hash([])
        (work / "empty").mkdir()
        store.put_tree(work / "empty", [], digest)
        assert store.has(digest)
        assert store.restore(digest, work / "again") == []
        assert (work / "again").is_dir() and not any((work / "again").iterdir())

    def test_a_corrupt_file_inside_is_refused_and_removed(self, store: ObjectStore,
                                                          work: Path) -> None:
        digest, manifest = put_tree(store, work)
        bad = dict(manifest)["sub/b.csv"]
        overwrite(store.path_of(bad), b"rot")
        with pytest.raises(CacheCorrupt, match="content does not match its hash"):
            store.restore(digest, work / "features")
        assert not store.path_of(bad).exists()
        assert not store.has(digest)
        assert files_under(work / "features") == TREE  # untouched
        assert sorted(p.name for p in work.iterdir()) == ["features"]  # no staging left

    def test_a_corrupt_manifest_is_refused_and_removed(self, store: ObjectStore,
                                                       work: Path) -> None:
        digest, _ = put_tree(store, work)
        overwrite(store.path_of(digest), b'[["a.csv", "whatever"]]')
        with pytest.raises(CacheCorrupt, match="manifest does not match its hash"):
            store.restore(digest, work / "out")
        assert not store.path_of(digest).exists()
        assert not (work / "out").exists()

    def test_has_leaves_a_corrupt_manifest_for_restore_to_report(self, store: ObjectStore,
                                                                 work: Path) -> None:
        digest, _ = put_tree(store, work)
        overwrite(store.path_of(digest), b"[]")
        assert store.has(digest)  # like a damaged file: present until restore checks it
        with pytest.raises(CacheCorrupt, match="manifest does not match its hash"):
            store.restore(digest, work / "out")
        assert not store.has(digest)

    def test_a_missing_file_object(self, store: ObjectStore, work: Path) -> None:
        digest, manifest = put_tree(store, work)
        store.path_of(dict(manifest)["a.csv"]).unlink()
        assert not store.has(digest)
        with pytest.raises(MissingObject):
            store.restore(digest, work / "out")
        assert not (work / "out").exists()


class TestHas:
    def test_has_all(self, store: ObjectStore, work: Path) -> None:
        model = put_model(store, work)
        tree, _ = put_tree(store, work)
        assert store.has_all({}) is True
        assert store.has_all({"model.pkl": model, "features": tree}) is True
        assert store.has_all({"model.pkl": model, "x": hash_bytes(b"nope")}) is False
        assert store.has_all({"model.pkl": model, "gone": None}) is False

    def test_putting_twice_keeps_one_object(self, store: ObjectStore, work: Path) -> None:
        digest = put_model(store, work)
        put_model(store, work)
        assert [p for p in store.objects_dir.rglob("*") if p.is_file()] == [
            store.path_of(digest)]

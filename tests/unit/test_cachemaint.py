"""Cache maintenance: checking stored files, planning gc on toy listings, what gc must keep."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from conftest import git, git_commit, git_init

from mlpipe.errors import LockFileError, RegistryUnreadable
from mlpipe.maintenance import gc as gclib
from mlpipe.maintenance import verify as verifylib
from mlpipe.maintenance.gc import References, plan_gc
from mlpipe.maintenance.verify import CacheFile, Listing
from mlpipe.models.registry import Registry
from mlpipe.state import lockfile
from mlpipe.state.hashing import dir_hash, hash_bytes
from mlpipe.state.lockfile import LockEntry
from mlpipe.state.objects import ObjectStore
from mlpipe.state.runcache import RunCache, RunEntry
from mlpipe.state.workspace import Workspace

F1, F2, F3 = (hash_bytes(text) for text in (b"one", b"two", b"three"))
TREE = dir_hash([("a", F2), ("b", F3)])


def obj(name: str, size: int = 10) -> CacheFile:
    return CacheFile(Path("objects") / name[:2] / name[2:], name, size)


def entry(key: str, outs: set[str] | None) -> CacheFile:
    return CacheFile(Path("runs") / key[:2] / f"{key}.json", key, 100,
                     None if outs is None else frozenset(outs))


def names(files: tuple[CacheFile, ...]) -> set[str]:
    return {f.name for f in files}


class TestPlanGc:
    MEMBERS = {TREE: [F2, F3]}

    def plan(self, listing: Listing, digests: set[str], keys: set[str] = frozenset()
             ) -> gclib.GcPlan:
        refs = References(frozenset(digests), frozenset(keys), ())
        return plan_gc(listing, refs, lambda d: self.MEMBERS.get(d, []))

    def test_what_nothing_refers_to_goes(self) -> None:
        listing = Listing((obj(F1, 5), obj(F2, 7)), (), ())
        plan = self.plan(listing, {F1})
        assert names(plan.objects) == {F2}
        assert (plan.kept_objects, plan.kept_bytes, plan.freed_bytes) == (1, 5, 7)

    def test_a_referenced_directory_keeps_its_files(self) -> None:
        listing = Listing((obj(TREE), obj(F1), obj(F2), obj(F3)), (), ())
        assert names(self.plan(listing, {TREE}).objects) == {F1}

    def test_entries_of_referenced_keys_stay_with_what_they_name(self) -> None:
        listing = Listing((obj(F1), obj(F2), obj(TREE), obj(F3)),
                          (entry("aa11", {F2}), entry("bb22", {F1}), entry("cc33", {TREE})), ())
        plan = self.plan(listing, set(), {"aa11", "cc33"})
        assert names(plan.entries) == {"bb22"}
        assert names(plan.objects) == {F1}

    def test_unreadable_entries_and_stale_temporary_files_go(self) -> None:
        temp = CacheFile(Path("objects/ab/.x.tmp"), ".x.tmp", 3)
        listing = Listing((obj(F1),), (entry("aa11", None),), (temp,))
        plan = self.plan(listing, {F1}, {"aa11"})
        assert names(plan.entries) == {"aa11"}
        assert plan.temps == (temp,)
        assert plan.freed_bytes == 103

    def test_an_empty_cache(self) -> None:
        plan = self.plan(Listing((), (), ()), {F1}, {"k"})
        assert plan.files == () and plan.kept_objects == 0


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    (tmp_path / "mlpipe.yaml").write_text("stages: {}\n")
    return Workspace.for_file(tmp_path / "mlpipe.yaml")


def stored(ws: Workspace) -> tuple[ObjectStore, Path]:
    """A store holding file F1 ("one") and a directory TREE of F2 and F3."""
    store = ObjectStore(ws.objects_dir)
    src = ws.root / "src"
    src.mkdir()
    for name, text in (("one", b"one"), ("a", b"two"), ("b", b"three")):
        (src / name).write_bytes(text)
    store.put_file(src / "one", F1)
    tree = ws.root / "tree"
    tree.mkdir()
    for name in ("a", "b"):
        (tree / name).write_bytes((src / name).read_bytes())
    store.put_tree(tree, [("a", F2), ("b", F3)], TREE)
    return store, src


def rewrite(path: Path, data: bytes) -> None:
    os.chmod(path, 0o644)
    path.write_bytes(data)


class TestVerify:
    def test_a_healthy_cache(self, ws: Workspace) -> None:
        stored(ws)
        RunCache(ws.runs_dir).put("ab12", RunEntry({"o": F1}, None))
        result = verifylib.verify(ws)
        assert (result.ok, result.objects, result.entries) == (True, 4, 1)

    @pytest.mark.parametrize(("target", "data", "detail"), [
        pytest.param(F1, b"on", "content does not match its hash", id="truncated"),
        pytest.param(F1, b"One", "content does not match its hash", id="modified"),
        pytest.param(F3, b"", "content does not match its hash", id="emptied-member"),
        pytest.param(TREE, b"[]", "directory manifest does not match its hash",
                     id="manifest"),
    ])
    def test_bad_objects_are_listed_then_removed(self, ws: Workspace, target: str,
                                                 data: bytes, detail: str) -> None:
        store, _ = stored(ws)
        rewrite(store.path_of(target), data)
        result = verifylib.verify(ws)
        assert [(p.path, p.detail.split(" (")[0]) for p in result.problems] == [
            (store.path_of(target), detail)]
        assert store.path_of(target).exists() and not result.removed
        removed = verifylib.verify(ws, remove=True)
        assert removed.removed and not store.path_of(target).exists()
        assert verifylib.verify(ws).ok

    def test_a_manifest_that_matches_its_hash_but_is_not_a_manifest(self, ws: Workspace
                                                                    ) -> None:
        data = b'{"not": "a list"}'
        name = hash_bytes(data) + ".dir"
        path = ObjectStore(ws.objects_dir).path_of(name)
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        [problem] = verifylib.verify(ws).problems
        assert problem.detail.startswith("directory manifest does not parse")

    def test_stray_files_and_bad_run_cache_entries(self, ws: Workspace) -> None:
        stray = ws.objects_dir / "zz" / "hello.txt"
        stray.parent.mkdir(parents=True)
        stray.write_text("hi")
        cache = RunCache(ws.runs_dir)
        cache.put("ab12", RunEntry({"o": F1}, None))
        cache.path_of("ab12").write_text('{"format": 1}')
        misplaced = ws.runs_dir / "zz" / "ab34.json"
        misplaced.parent.mkdir()
        misplaced.write_text("{}")
        found = {p.path: p.detail for p in verifylib.verify(ws).problems}
        assert found == {stray: "not an object of this cache (bad name)",
                         cache.path_of("ab12"): "corrupt run-cache entry: no valid 'outs'",
                         misplaced: "not a run-cache entry (bad name)"}

    def test_a_manifest_whose_files_are_missing_is_not_bad(self, ws: Workspace) -> None:
        store, _ = stored(ws)
        store.path_of(F2).unlink()
        assert verifylib.verify(ws).ok
        assert not store.has(TREE)  # the store sees the directory as absent


class TestScan:
    def test_only_stale_temporary_files_are_listed(self, ws: Workspace) -> None:
        stored(ws)
        fresh = ws.objects_dir / "ab" / ".x.fresh.tmp"
        stale = ws.runs_dir / "cd" / ".y.json.stale.tmp"
        for path in (fresh, stale):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("partial")
        old = time.time() - verifylib.STALE_TEMP_S - 60
        os.utime(stale, (old, old))
        listing = verifylib.scan(ws)
        assert [t.path for t in listing.temps] == [stale]
        assert {o.name for o in listing.objects} == {F1, F2, F3, TREE}


def write_lock(path: Path, key: str, digest: str) -> None:
    lockfile.write(path, {"s": LockEntry(kind="command", key=key, definition="d",
                                         outs={"out": digest})})


class TestCollectReferences:
    def test_lock_files_beside_the_pipeline_and_the_registry(self, ws: Workspace) -> None:
        write_lock(ws.lock_file, "k1", F1)
        (ws.root / "other.yml").write_text("stages: {}\n")
        write_lock(ws.root / "other.lock", "k2", TREE)
        (ws.root / "poetry.lock").write_text("[[package]]\n")  # no pipeline: not ours
        model = ws.root / "model.bin"
        model.write_bytes(b"three")
        Registry(ws.state_dir).register("m", model, {}, {}, {})
        refs = gclib.collect_references(ws)
        assert refs.digests == {F1, TREE, F3}
        assert refs.keys == {"k1", "k2"}
        assert refs.sources == ("mlpipe.lock", "other.lock", "1 registered model versions")

    def test_a_registered_versions_training_data_stays(self, ws: Workspace) -> None:
        model = ws.root / "model.bin"
        model.write_bytes(b"three")
        Registry(ws.state_dir).register("m", model, {"training_data_hash": F1}, {}, {})
        assert gclib.collect_references(ws).digests == {F3, F1}

    def test_an_unreadable_lock_file_stops_gc(self, ws: Workspace) -> None:
        ws.lock_file.write_text("format: 7\n")
        with pytest.raises(LockFileError, match="format 7"):
            gclib.collect_references(ws)

    def test_an_unreadable_registry_stops_gc(self, ws: Workspace) -> None:
        ws.state_dir.mkdir()
        (ws.state_dir / "registry.db").write_bytes(b"not a database" * 100)
        with pytest.raises(RegistryUnreadable, match=r"registry\.db: cannot read"):
            gclib.collect_references(ws)

    def test_all_commits_reads_every_branch_and_warns_on_bad_versions(
            self, ws: Workspace) -> None:
        root = ws.root
        git_init(root)
        write_lock(ws.lock_file, "k1", F1)
        git_commit(root, "one")
        git(root, "checkout", "-q", "-b", "side")
        write_lock(ws.lock_file, "k2", F2)
        git_commit(root, "two")
        git(root, "checkout", "-q", "main")
        ws.lock_file.write_text("format: 9\n")
        git_commit(root, "broken")
        write_lock(ws.lock_file, "k3", F3)
        refs = gclib.collect_references(ws, all_commits=True)
        assert refs.digests == {F1, F2, F3} and refs.keys == {"k1", "k2", "k3"}
        assert "3 committed versions of mlpipe.lock" in refs.sources
        [warning] = refs.warnings
        assert warning.endswith(":mlpipe.lock: unreadable lock file (format 9, expected 1); "
                                "the objects it names are not kept")
        assert gclib.collect_references(ws).digests == {F3}

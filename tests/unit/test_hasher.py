"""hasher.PathHasher: hashes of files and directories, each file read as rarely as possible."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlpipe.state.filehash import BlobSource, PathHasher
from mlpipe.state.hashing import dir_hash, hash_bytes, is_dir_hash
from mlpipe.state.hashmemo import StateCache

DATA = b"a,b\n1,2\n3,4\n"


def bump_mtime(path: Path, seconds: int = 5) -> None:
    """What `touch` does: same content and inode, later mtime."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 1_000_000_000))


class FakeGit:
    """A blob source: path -> blob id for the files git would call clean."""

    def __init__(self, blobs: dict[Path, str]) -> None:
        self.blobs = blobs
        self.asked: list[list[Path]] = []

    def __call__(self, files: list[Path]) -> dict[Path, str]:
        self.asked.append(list(files))
        return {f: self.blobs[f] for f in files if f in self.blobs}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "data" / "sub").mkdir(parents=True)
    (root / "raw.csv").write_bytes(DATA)
    (root / "data" / "a.csv").write_bytes(b"a")
    (root / "data" / "sub" / "b.csv").write_bytes(b"bb")
    return root


@pytest.fixture
def state(tmp_path: Path) -> StateCache:
    return StateCache(tmp_path / "state" / "state.db")


def fresh(root: Path, state: StateCache, blobs: BlobSource | None = None,
          git_min_bytes: int | None = None) -> PathHasher:
    """A hasher as the next mlpipe process would have: empty memo, the state cache flushed."""
    state.flush()
    return PathHasher(root, state, blobs, git_min_bytes)


class TestHashes:
    def test_file_directory_and_missing(self, root: Path, state: StateCache) -> None:
        result = fresh(root, state).hash(["raw.csv", "data", "nope.csv", "data/nope"])
        assert result["raw.csv"] == hash_bytes(DATA)
        assert result["data"] == dir_hash([("a.csv", hash_bytes(b"a")),
                                           ("sub/b.csv", hash_bytes(b"bb"))])
        assert is_dir_hash(result["data"] or "")
        assert result["nope.csv"] is None and result["data/nope"] is None

    def test_manifest_lists_relative_posix_paths_sorted(self, root: Path,
                                                        state: StateCache) -> None:
        (root / "data" / "0.csv").write_bytes(b"0")
        assert [rel for rel, _ in fresh(root, state).manifest("data")] == [
            "0.csv", "a.csv", "sub/b.csv"]

    def test_dir_hash_depends_on_content_not_location(self, root: Path,
                                                      state: StateCache) -> None:
        (root / "copy" / "sub").mkdir(parents=True)
        (root / "copy" / "a.csv").write_bytes(b"a")
        (root / "copy" / "sub" / "b.csv").write_bytes(b"bb")
        result = fresh(root, state).hash(["data", "copy"])
        assert result["data"] == result["copy"]

    @pytest.mark.parametrize("change", ["edit", "add", "remove", "rename"])
    def test_dir_hash_changes_with_a_file_inside(self, root: Path, state: StateCache,
                                                 change: str) -> None:
        before = fresh(root, state).hash_one("data")
        inner = root / "data" / "sub" / "b.csv"
        if change == "edit":
            inner.write_bytes(b"bbb")
        elif change == "add":
            (root / "data" / "new.csv").write_bytes(b"")
        elif change == "remove":
            inner.unlink()
        else:
            inner.rename(inner.with_name("c.csv"))
        after = fresh(root, state).hash_one("data")
        assert after is not None and after.endswith(".dir") and after != before

    def test_same_paths_twice_hash_once(self, root: Path, state: StateCache) -> None:
        hasher = fresh(root, state)
        assert hasher.hash(["raw.csv", "raw.csv"]) == {"raw.csv": hash_bytes(DATA)}
        assert hasher.bytes_read == len(DATA)

    def test_a_file_named_both_directly_and_through_its_directory_is_read_once(
            self, root: Path, state: StateCache) -> None:
        # Module docstring: "each file read at most once". A stage's out `data` and another
        # stage's dep `data/a.csv` come in the same hash() call from `mlpipe status`.
        hasher = fresh(root, state)
        hasher.hash(["data", "data/a.csv"])
        assert hasher.bytes_read == len(b"a") + len(b"bb")


class TestStateCache:
    def test_second_hash_in_the_same_process_reads_nothing(self, root: Path,
                                                           state: StateCache) -> None:
        hasher = fresh(root, state)
        first = hasher.hash(["raw.csv", "data"])
        assert hasher.bytes_read == len(DATA) + 3
        assert hasher.hash(["raw.csv", "data"]) == first
        assert hasher.bytes_read == len(DATA) + 3

    def test_untouched_files_are_not_read_by_the_next_process(self, root: Path,
                                                              state: StateCache) -> None:
        first = fresh(root, state).hash(["raw.csv", "data"])
        state.close()
        hasher = fresh(root, StateCache(state.db_path))
        assert hasher.hash(["raw.csv", "data"]) == first
        assert hasher.bytes_read == 0

    def test_touch_forces_a_read_but_keeps_the_hash(self, root: Path,
                                                    state: StateCache) -> None:
        first = fresh(root, state).hash_one("raw.csv")
        bump_mtime(root / "raw.csv")
        hasher = fresh(root, state)
        assert hasher.hash_one("raw.csv") == first
        assert hasher.bytes_read == len(DATA)

    def test_a_content_change_gives_a_new_hash(self, root: Path, state: StateCache) -> None:
        first = fresh(root, state).hash_one("raw.csv")
        (root / "raw.csv").write_bytes(DATA + b"5,6\n")
        hasher = fresh(root, state)
        assert hasher.hash_one("raw.csv") == hash_bytes(DATA + b"5,6\n") != first
        assert hasher.bytes_read == len(DATA) + 4

    def test_forget_drops_the_memo(self, root: Path, state: StateCache) -> None:
        hasher = fresh(root, state)
        before = hasher.hash(["raw.csv", "data"])
        (root / "raw.csv").write_bytes(b"new")
        (root / "data" / "a.csv").write_bytes(b"new")
        assert hasher.hash(["raw.csv", "data"]) == before  # memoised: not looked at again
        hasher.forget(["raw.csv", "data"])
        after = hasher.hash(["raw.csv", "data"])
        assert after["raw.csv"] == hash_bytes(b"new")
        assert after["data"] != before["data"]

    def test_remember_records_a_written_file_without_reading_it(self, root: Path,
                                                                state: StateCache) -> None:
        hasher = fresh(root, state)
        hasher.remember("raw.csv", hash_bytes(DATA))
        assert hasher.hash_one("raw.csv") == hash_bytes(DATA)
        later = fresh(root, state)
        assert later.hash_one("raw.csv") == hash_bytes(DATA)
        assert hasher.bytes_read == later.bytes_read == 0


    def test_a_corrupt_state_db_costs_a_read_not_a_crash(self, root: Path,
                                                        tmp_path: Path) -> None:
        db = tmp_path / "bad" / "state.db"
        db.parent.mkdir()
        db.write_bytes(b"not sqlite" * 500)
        hasher = fresh(root, StateCache(db))
        assert hasher.hash_one("raw.csv") == hash_bytes(DATA)
        assert hasher.bytes_read == len(DATA)


class TestGitBlobs:
    def test_a_known_blob_is_not_read_after_its_stat_changed(self, root: Path,
                                                             state: StateCache) -> None:
        raw = root / "raw.csv"
        git = FakeGit({raw: "blob-raw"})
        first = fresh(root, state, git, git_min_bytes=0)
        digest = first.hash_one("raw.csv")
        assert first.bytes_read == len(DATA)  # blob id seen for the first time
        raw.unlink()
        raw.write_bytes(DATA)  # what `git checkout` does: new inode, new mtime, same blob
        bump_mtime(raw)
        second = fresh(root, state, git, git_min_bytes=0)
        assert second.hash_one("raw.csv") == digest
        assert second.bytes_read == 0
        assert git.asked[-1] == [raw]

    def test_an_unknown_blob_is_read(self, root: Path, state: StateCache) -> None:
        raw = root / "raw.csv"
        fresh(root, state, FakeGit({raw: "blob-1"}), git_min_bytes=0).hash_one("raw.csv")
        raw.write_bytes(b"changed")
        hasher = fresh(root, state, FakeGit({raw: "blob-2"}), git_min_bytes=0)
        assert hasher.hash_one("raw.csv") == hash_bytes(b"changed")
        assert hasher.bytes_read == len(b"changed")

    def test_a_file_git_does_not_vouch_for_is_read(self, root: Path, state: StateCache) -> None:
        raw = root / "raw.csv"
        fresh(root, state, FakeGit({raw: "blob-1"}), git_min_bytes=0).hash_one("raw.csv")
        bump_mtime(raw)
        hasher = fresh(root, state, FakeGit({}), git_min_bytes=0)  # dirty or untracked
        hasher.hash_one("raw.csv")
        assert hasher.bytes_read == len(DATA)

    def test_git_is_not_asked_when_reading_is_cheaper(self, root: Path,
                                                      state: StateCache) -> None:
        git = FakeGit({root / "raw.csv": "blob-raw"})
        hasher = fresh(root, state, git, git_min_bytes=len(DATA) + 1)
        assert hasher.hash_one("raw.csv") == hash_bytes(DATA)
        assert git.asked == []

"""statecache.StateCache: a SQLite memo of file hashes that is rebuilt, never fatal, when bad."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from mlpipe.state.hashmemo import StateCache

PAGE = 4096


@pytest.fixture
def file(tmp_path: Path) -> Path:
    path = tmp_path / "f.csv"
    path.write_text("x")
    return path


def filled_db(path: Path, file: Path, rows: int = 50) -> Path:
    cache = StateCache(path)
    for i in range(rows):
        cache.put(f"/f{i}", file.stat(), f"h{i}")
    cache.put(str(file), file.stat(), "h-file")
    cache.put_blob("blob-1", "h-blob")
    cache.close()
    return path


class TestMemo:
    def test_entries_survive_a_reopen(self, tmp_path: Path, file: Path) -> None:
        db = filled_db(tmp_path / "state.db", file)
        cache = StateCache(db)
        assert cache.get(str(file), file.stat()) == "h-file"
        assert cache.get_blob("blob-1") == "h-blob"
        assert cache.get_blob("blob-2") is None

    def test_a_stat_change_is_a_miss(self, tmp_path: Path, file: Path) -> None:
        db = filled_db(tmp_path / "state.db", file)
        st = file.stat()
        os.utime(file, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
        assert StateCache(db).get(str(file), file.stat()) is None

    def test_another_path_with_the_same_stat_is_a_miss(self, tmp_path: Path, file: Path) -> None:
        db = filled_db(tmp_path / "state.db", file)
        assert StateCache(db).get(str(file) + ".other", file.stat()) is None

    def test_put_replaces_the_old_entry(self, tmp_path: Path, file: Path) -> None:
        db = filled_db(tmp_path / "state.db", file)
        cache = StateCache(db)
        cache.put(str(file), file.stat(), "h-new")
        cache.close()
        assert StateCache(db).get(str(file), file.stat()) == "h-new"

    def test_lookups_do_not_create_a_database(self, tmp_path: Path, file: Path) -> None:
        db = tmp_path / "nested" / "state.db"
        cache = StateCache(db)
        assert cache.get(str(file), file.stat()) is None
        assert cache.get_blob("blob") is None
        cache.close()
        assert not db.exists()


class TestCorruption:
    def test_a_garbage_file_is_rebuilt(self, tmp_path: Path, file: Path) -> None:
        db = tmp_path / "state.db"
        db.write_bytes(b"this is not a database" * 200)
        cache = StateCache(db)
        assert cache.get(str(file), file.stat()) is None
        cache.put(str(file), file.stat(), "h-file")
        cache.close()
        assert StateCache(db).get(str(file), file.stat()) == "h-file"
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    def test_a_garbage_file_is_rebuilt_on_blob_lookup(self, tmp_path: Path) -> None:
        db = tmp_path / "state.db"
        db.write_bytes(b"\xff" * PAGE * 3)
        assert StateCache(db).get_blob("blob-1") is None

    @pytest.mark.parametrize("lookup", ["file", "blob"])
    def test_damaged_pages_are_rebuilt_not_raised(self, tmp_path: Path, file: Path,
                                                  lookup: str) -> None:
        # A valid header and schema (page 1) with the table pages overwritten: the database
        # opens, and the first query fails with "database disk image is malformed".
        db = filled_db(tmp_path / "state.db", file)
        data = db.read_bytes()
        db.write_bytes(data[:PAGE] + b"\xff" * (len(data) - PAGE))
        cache = StateCache(db)
        if lookup == "file":
            assert cache.get(str(file), file.stat()) is None
        else:
            assert cache.get_blob("blob-1") is None
        cache.put(str(file), file.stat(), "h-file")
        cache.close()
        assert StateCache(db).get(str(file), file.stat()) == "h-file"

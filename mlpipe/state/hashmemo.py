"""A memo of file hashes in SQLite, so untouched files are never read twice.

A file's entry is keyed by its path and checked against (inode, size, mtime_ns): a `touch`
changes mtime and forces a re-read, but the content hash is then the same, so nothing that
depends on the file runs. A second table maps git blob ids to content hashes, so a clean
tracked file rewritten by `git checkout` is recognised without reading it.
The memo is only a memo: when the database is unreadable it is deleted and rebuilt.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, inode INTEGER, size INTEGER, mtime_ns INTEGER, hash TEXT);
CREATE TABLE IF NOT EXISTS blobs (blob TEXT PRIMARY KEY, hash TEXT);
"""


def stat_key(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class StateCache:
    """(path, inode, size, mtime_ns) -> hash, and git blob id -> hash."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._conn: sqlite3.Connection | None = None
        self._absent = False  # the database did not exist when first asked: nothing to read
        self._preloaded: dict[str, tuple[int, int, int, str]] = {}
        self._pending_files: list[tuple[str, int, int, int, str]] = []
        self._pending_blobs: list[tuple[str, str]] = []

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._conn = self._open()
            except sqlite3.DatabaseError:
                self._discard()
                self._conn = self._open()
        return self._conn

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
        return conn

    def _query(self, sql: str, args: tuple[str, ...]) -> tuple | None:
        """One row, or None; a damaged database is deleted (it is only a memo)."""
        if self._conn is None and (self._absent or not self.db_path.exists()):
            self._absent = True  # one stat for the whole run, not one per file
            return None
        try:
            return self._connect().execute(sql, args).fetchone()
        except sqlite3.DatabaseError:
            self._discard()
            return None

    def preload(self, directory: str) -> None:
        """Read the entries of every file below `directory` in one query, so hashing a large
        directory asks the database once instead of once per file."""
        if self._conn is None and (self._absent or not self.db_path.exists()):
            self._absent = True
            return
        prefix = directory.rstrip(os.sep) + os.sep
        upper = prefix[:-1] + chr(ord(os.sep) + 1)  # every path starting with the prefix
        try:
            rows = self._connect().execute(
                "SELECT path, inode, size, mtime_ns, hash FROM files WHERE path >= ? AND "
                "path < ?", (prefix, upper)).fetchall()
        except sqlite3.DatabaseError:
            self._discard()
            return
        self._preloaded.update((row[0], tuple(row[1:])) for row in rows)

    def _discard(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.db_path}{suffix}").unlink(missing_ok=True)

    def get(self, path: str, st: os.stat_result) -> str | None:
        """The remembered hash of `path` if its stat still matches."""
        known = self._preloaded.get(path)
        if known is not None:
            return known[3] if known[:3] == stat_key(st) else None
        row = self._query("SELECT inode, size, mtime_ns, hash FROM files WHERE path = ?", (path,))
        if row is None or tuple(row[:3]) != stat_key(st):
            return None
        return row[3]

    def put(self, path: str, st: os.stat_result, digest: str) -> None:
        self._pending_files.append((path, *stat_key(st), digest))
        self._preloaded.pop(path, None)

    def get_blob(self, blob: str) -> str | None:
        row = self._query("SELECT hash FROM blobs WHERE blob = ?", (blob,))
        return row[0] if row else None

    def put_blob(self, blob: str, digest: str) -> None:
        self._pending_blobs.append((blob, digest))

    def flush(self) -> None:
        """Write remembered hashes; a failure here only costs a re-read later."""
        if not (self._pending_files or self._pending_blobs):
            return
        try:
            conn = self._connect()
            with conn:
                conn.execute("BEGIN")
                conn.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)",
                                 self._pending_files)
                conn.executemany("INSERT OR REPLACE INTO blobs VALUES (?, ?)",
                                 self._pending_blobs)
        except sqlite3.Error:
            pass
        self._pending_files.clear()
        self._pending_blobs.clear()

    def close(self) -> None:
        self.flush()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

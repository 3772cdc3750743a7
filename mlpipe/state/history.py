"""Run history in SQLite (`.mlpipe/runs.db`): one row per stage per run.

The history records results that are already safe in the lock file and the store, so it never
fails a run: a damaged database is moved aside (`runs.db.damaged-<time>`) with a warning and a
new one started; a database that cannot be written for another reason (busy, disk full) costs
the row and a warning. Reading a damaged history is one error line saying what to do.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlpipe.errors import DatabaseUnusable, is_damage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    stage TEXT NOT NULL,
    key TEXT,
    status TEXT NOT NULL,
    reason TEXT,
    duration_s REAL,
    git_commit TEXT,
    dirty INTEGER,
    metrics TEXT,
    finished_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_stage ON runs (pipeline, stage);
"""


@dataclass(frozen=True)
class HistoryRow:
    """One stage run.

    Attributes:
        run_id: Shared by every stage of one `mlpipe run`.
        pipeline: The pipeline file, relative to its root.
        stage, key, status, reason, duration_s: What ran and how it ended.
        commit, dirty: The git commit at the time, and whether the work tree differed from it.
        metrics: Metrics the stage wrote, if any.
    """

    run_id: str
    pipeline: str
    stage: str
    key: str | None
    status: str
    reason: str
    duration_s: float
    commit: str | None
    dirty: bool
    metrics: Mapping[str, Any] = field(default_factory=dict)


class History:
    """Append and read stage runs."""

    def __init__(self, db_path: Path, warn: Callable[[str], None] = lambda _: None) -> None:
        self.db_path = db_path
        self.warn = warn

    def _connect(self) -> sqlite3.Connection:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.db_path, timeout=30)
        try:
            conn.execute("PRAGMA journal_mode=WAL")  # a commit per stage without an fsync each
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
        except BaseException:
            conn.close()
            raise
        return conn

    def append(self, row: HistoryRow) -> None:
        """Add a row; never raises for the database's sake (see the module docstring)."""
        try:
            self._insert(row)
            return
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                self.warn(f"{self.db_path}: run history not written ({exc}); the run's result "
                          "is recorded in the lock file and the cache")
                return
            damage = exc
        aside = self._move_aside()
        self.warn(f"{self.db_path}: damaged run history ({damage}); moved to {aside.name}, "
                  "a new history starts with this run")
        try:
            self._insert(row)
        except sqlite3.DatabaseError as exc:
            self.warn(f"{self.db_path}: run history not written ({exc})")

    def _insert(self, row: HistoryRow) -> None:
        conn = self._connect()
        try:
            with conn:
                conn.execute(
                    "INSERT INTO runs (run_id, pipeline, stage, key, status, reason, duration_s,"
                    " git_commit, dirty, metrics, finished_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (row.run_id, row.pipeline, row.stage, row.key, row.status, row.reason,
                     row.duration_s, row.commit, int(row.dirty),
                     json.dumps(dict(row.metrics), sort_keys=True) if row.metrics else None,
                     datetime.now(UTC).isoformat(timespec="seconds")))
        finally:
            conn.close()

    def _move_aside(self) -> Path:
        """Rename the damaged database (and its WAL files) out of the way; the new name."""
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        aside = self.db_path.with_name(f"{self.db_path.name}.damaged-{stamp}-{os.getpid()}")
        for suffix in ("", "-wal", "-shm"):
            source = self.db_path.with_name(self.db_path.name + suffix)
            if source.exists():
                os.replace(source, aside.with_name(aside.name + suffix))
        return aside

    def rows(self, stage: str | None = None) -> list[HistoryRow]:
        """Every recorded run, oldest first (of one stage when given).

        Raises:
            DatabaseUnusable: The database is damaged or cannot be read.
        """
        if not self.db_path.exists():
            return []
        try:
            found = self._select(stage)
        except sqlite3.DatabaseError as exc:
            fix = ("move it aside (the next run starts a new history) or restore it from a "
                   "backup" if is_damage(exc) else "check the file and its directory")
            raise DatabaseUnusable(self.db_path, "run history", str(exc), fix) from None
        return [HistoryRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], dirty=bool(r[8]),
                           metrics=json.loads(r[9]) if r[9] else {})
                for r in found]

    def _select(self, stage: str | None) -> list[tuple[Any, ...]]:
        conn = self._connect()
        try:
            query = ("SELECT run_id, pipeline, stage, key, status, reason, duration_s, git_commit,"
                     " dirty, metrics FROM runs")
            args: tuple[str, ...] = ()
            if stage is not None:
                query += " WHERE stage = ?"
                args = (stage,)
            return conn.execute(query + " ORDER BY id", args).fetchall()
        finally:
            conn.close()

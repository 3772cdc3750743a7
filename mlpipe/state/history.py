"""Run history in SQLite (`.mlpipe/runs.db`): one row per stage per run."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path

    def _connect(self) -> sqlite3.Connection:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.db_path, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")  # a commit per stage without an fsync each
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
        return conn

    def append(self, row: HistoryRow) -> None:
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

    def rows(self, stage: str | None = None) -> list[HistoryRow]:
        """Every recorded run, oldest first (of one stage when given)."""
        if not self.db_path.exists():
            return []
        conn = self._connect()
        try:
            query = ("SELECT run_id, pipeline, stage, key, status, reason, duration_s, git_commit,"
                     " dirty, metrics FROM runs")
            args: tuple[str, ...] = ()
            if stage is not None:
                query += " WHERE stage = ?"
                args = (stage,)
            found = conn.execute(query + " ORDER BY id", args).fetchall()
        finally:
            conn.close()
        return [HistoryRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], dirty=bool(r[8]),
                           metrics=json.loads(r[9]) if r[9] else {})
                for r in found]

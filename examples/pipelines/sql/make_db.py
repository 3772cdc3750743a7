"""Build the SQLite database the pipeline queries, from the shipped CSV (standard library only).

Usage: python make_db.py data/wine.csv data/wine.db

Two tables: `samples` (one row per wine: sample_id, measurements, cultivar_id) and
`cultivars` (cultivar_id, name), so the ingest query has a join to do.
"""

from __future__ import annotations

import csv
import sqlite3
import sys
from pathlib import Path

CULTIVARS = [(0, "barolo"), (1, "grignolino"), (2, "barbera")]


def build(source: Path, target: Path) -> int:
    """Write `target` from `source`; return the number of samples."""
    with source.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header, samples = rows[0], rows[1:]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.unlink(missing_ok=True)
    with sqlite3.connect(tmp) as db:
        columns = ", ".join(f"{name} {'INTEGER' if name.endswith('_id') else 'REAL'}"
                            for name in header)
        db.execute(f"CREATE TABLE samples ({columns})")
        db.executemany(f"INSERT INTO samples VALUES ({', '.join('?' * len(header))})", samples)
        db.execute("CREATE TABLE cultivars (cultivar_id INTEGER PRIMARY KEY, name TEXT)")
        db.executemany("INSERT INTO cultivars VALUES (?, ?)", CULTIVARS)
    db.close()
    tmp.replace(target)
    return len(samples)


if __name__ == "__main__":
    count = build(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"{sys.argv[2]}: {count} samples")

"""The registry as records that travel with `push` and `pull`, and the merge of two clones'.

Each registered version and each alias move becomes one JSON record, named by the hash of
its bytes (so the same record written by two clones is one file). A record names versions
by their model digest, never by number: numbers are local and are derived again on every
merge, the same way in every clone:

- A model's versions are numbered 1, 2, 3... in the order they were first registered
  (`created_at`, then digest). The same bytes registered in two clones are one version,
  with the earlier registration's record. A version registered in another clone at an
  earlier time moves the local ones after it up by one.
- Every alias move is kept in the alias history (ordered by time, then record hash); a move
  undone by `rollback` in any clone stays marked as rolled back. The alias is held by the
  version of the latest move not rolled back.

Merging rewrites the registry's tables in one transaction, so it is either merged or not.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlpipe.models import cardstore
from mlpipe.models.labels import SCHEMA as LABELS_SCHEMA
from mlpipe.models.registry import DB_NAME, SCHEMA, RegistryError, transaction
from mlpipe.state.hashing import canonical_json, hash_bytes

FORMAT = 1


@dataclass(frozen=True)
class Merged:
    """What a merge changed: versions and alias moves that were not here before."""

    versions: int
    moves: int


def record_name(data: bytes) -> str:
    """A record's name: the hash of its bytes."""
    return hash_bytes(data)


def _connect(state_dir: Path, write: bool) -> Any:
    return transaction(Path(state_dir) / DB_NAME, SCHEMA + cardstore.SCHEMA, write)


def export(state_dir: Path) -> dict[str, bytes]:
    """Every version and alias move of the registry in `state_dir`, as name -> record."""
    with _connect(state_dir, write=False) as conn:
        versions = conn.execute("SELECT * FROM versions").fetchall()
        cards = {(r["name"], r["digest"]): json.loads(r["card"])
                 for r in conn.execute("SELECT * FROM cards")}
        moves = conn.execute("SELECT h.*, v.digest FROM alias_history h JOIN versions v "
                             "ON v.name = h.name AND v.version = h.version").fetchall()
    found: list[dict[str, Any]] = []
    for row in versions:
        card = cards.get((row["name"], row["digest"]))
        if card is not None:
            card = {**card, "model": {**card["model"], "version": None}}
        found.append({"format": FORMAT, "type": "version", "name": row["name"],
                      "digest": row["digest"], "meta": json.loads(row["meta"]),
                      "metrics": json.loads(row["metrics"]),
                      "lineage": json.loads(row["lineage"]),
                      "gates_passed": bool(row["gates_passed"]),
                      "created_at": row["created_at"], "card": card})
    for row in moves:
        found.append({"format": FORMAT, "type": "alias", "name": row["name"],
                      "alias": row["alias"], "digest": row["digest"], "set_at": row["set_at"],
                      "rolled_back": bool(row["rolled_back"])})
    return {record_name(data): data for data in map(canonical_json, found)}


def model_digests(state_dir: Path) -> dict[str, str]:
    """Digest -> `model NAME:VERSION` for every registered version (what a push sends)."""
    with _connect(state_dir, write=False) as conn:
        rows = conn.execute("SELECT name, version, digest FROM versions").fetchall()
    return {r["digest"]: f"model {r['name']}:{r['version']}" for r in rows}


def parse(name: str, data: bytes) -> dict[str, Any]:
    """A record, checked against its name and its format.

    Raises:
        RegistryError: It does not match its name or is not a record mlpipe wrote.
    """
    if record_name(data) != name:
        raise RegistryError(f"registry record {name}: content does not match its hash "
                            "(corrupt or truncated)")
    try:
        record = json.loads(data)
    except ValueError:
        record = None
    needed = {"version": ("name", "digest", "meta", "metrics", "lineage", "gates_passed",
                          "created_at"),
              "alias": ("name", "alias", "digest", "set_at", "rolled_back")}
    kind = record.get("type") if isinstance(record, dict) else None
    if (kind not in needed or record.get("format") != FORMAT
            or any(field not in record for field in needed[kind])):
        raise RegistryError(f"registry record {name}: not a registry record of format {FORMAT}")
    return record


def merge(state_dir: Path, incoming: Mapping[str, bytes]) -> Merged:
    """Merge records from elsewhere into the registry in `state_dir` (see the module
    docstring for the rules).

    Raises:
        RegistryError: A record is damaged (nothing is merged then).
    """
    theirs = [parse(name, data) for name, data in sorted(incoming.items())]
    with _connect(state_dir, write=True) as conn:
        ours = [parse(n, d) for n, d in sorted(export(state_dir).items())]
        versions = _versions([*ours, *theirs])
        moves = _moves([*ours, *theirs])
        before_v = {(r["name"], r["digest"]) for r in ours if r["type"] == "version"}
        before_m = {_move_id(r) for r in ours if r["type"] == "alias"}
        _rewrite(conn, versions, moves)
    return Merged(len(set(versions) - before_v), len(set(moves) - before_m))


def _versions(records: Iterable[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """(name, digest) -> the earliest registration's record (with a card when any has one)."""
    chosen: dict[tuple[str, str], dict[str, Any]] = {}
    for record in sorted((r for r in records if r["type"] == "version"),
                         key=lambda r: (r["created_at"], record_name(canonical_json(r)))):
        key = (record["name"], record["digest"])
        if key not in chosen:
            chosen[key] = record
        elif chosen[key].get("card") is None and record.get("card") is not None:
            chosen[key] = {**chosen[key], "card": record["card"]}
    return chosen


def _move_id(record: Mapping[str, Any]) -> tuple[str, str, str, str]:
    return record["name"], record["alias"], record["digest"], record["set_at"]


def _moves(records: Iterable[dict[str, Any]]) -> dict[tuple[str, str, str, str], bool]:
    """Move identity -> rolled back (in any clone)."""
    moves: dict[tuple[str, str, str, str], bool] = {}
    for record in records:
        if record["type"] == "alias":
            key = _move_id(record)
            moves[key] = moves.get(key, False) or bool(record["rolled_back"])
    return moves


def _local_extras(conn: sqlite3.Connection) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """This clone's labels and rollback records, keyed by digest and alias move instead of by
    version number and row id (the rewrite may renumber both)."""
    digest_of = {(r[0], r[1]): r[2] for r in conn.execute(
        "SELECT name, version, digest FROM versions")}
    move_of = {r[0]: (r[1], r[2], digest_of.get((r[1], r[3])), r[4]) for r in conn.execute(
        "SELECT id, name, alias, version, set_at FROM alias_history")}
    conn.execute(LABELS_SCHEMA)
    labels = [(name, digest_of.get((name, version)), tags, description, archived)
              for name, version, tags, description, archived in conn.execute(
                  "SELECT name, version, tags, description, archived FROM version_labels")]
    rollbacks = [(name, alias, digest_of.get((name, old)), digest_of.get((name, new)), at,
                  move_of.get(after))
                 for name, alias, old, new, at, after in conn.execute(
                     "SELECT name, alias, from_version, to_version, at, after_id "
                     "FROM alias_rollbacks")]
    return labels, rollbacks


def _restore_extras(conn: sqlite3.Connection, numbers: Mapping[tuple[str, str], int],
                    labels: list[tuple[Any, ...]], rollbacks: list[tuple[Any, ...]]) -> None:
    """Put this clone's labels and rollback records back under the merged numbering."""
    conn.execute("DELETE FROM version_labels")
    for name, digest, tags, description, archived in labels:
        if (name, digest) in numbers:
            conn.execute("INSERT OR REPLACE INTO version_labels VALUES (?, ?, ?, ?, ?)",
                         (name, numbers[(name, digest)], tags, description, archived))
    id_of = {}
    for row_id, name, alias, version, set_at in conn.execute(
            "SELECT id, name, alias, version, set_at FROM alias_history"):
        digest = next((d for (n, d), v in numbers.items() if n == name and v == version), None)
        id_of[(name, alias, digest, set_at)] = row_id
    conn.execute("DELETE FROM alias_rollbacks")
    for name, alias, old, new, at, move in rollbacks:
        if (name, old) in numbers and (name, new) in numbers and move in id_of:
            conn.execute("INSERT INTO alias_rollbacks (name, alias, from_version, to_version, "
                         "at, after_id) VALUES (?, ?, ?, ?, ?, ?)",
                         (name, alias, numbers[(name, old)], numbers[(name, new)], at,
                          id_of[move]))


def _rewrite(conn: sqlite3.Connection, versions: Mapping[tuple[str, str], dict[str, Any]],
             moves: Mapping[tuple[str, str, str, str], bool]) -> None:
    labels, rollbacks = _local_extras(conn)
    for table in ("versions", "aliases", "alias_history", "cards"):
        conn.execute(f"DELETE FROM {table}")
    numbers: dict[tuple[str, str], int] = {}
    for (name, digest), r in sorted(versions.items(),
                                    key=lambda kv: (kv[0][0], kv[1]["created_at"], kv[0][1])):
        numbers[(name, digest)] = sum(1 for key in numbers if key[0] == name) + 1
        conn.execute("INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (name, numbers[(name, digest)], digest, _dumps(r["meta"]),
                      _dumps(r["metrics"]), _dumps(r["lineage"]), int(bool(r["gates_passed"])),
                      r["created_at"]))
        if r.get("card") is not None:
            card = {**r["card"], "model": {**r["card"]["model"],
                                           "version": numbers[(name, digest)]}}
            conn.execute("INSERT INTO cards VALUES (?, ?, ?)",
                         (name, digest, json.dumps(card, sort_keys=True, allow_nan=True)))
    holders: dict[tuple[str, str], int] = {}
    in_order = sorted(moves.items(), key=lambda kv: (kv[0][3], kv[0][2]))
    for (name, alias, digest, set_at), rolled in in_order:
        if (name, digest) not in numbers:
            raise RegistryError(f"registry record: alias {name}@{alias} names a version "
                                f"({digest}) no record registers")
        conn.execute("INSERT INTO alias_history (name, alias, version, set_at, rolled_back) "
                     "VALUES (?, ?, ?, ?, ?)",
                     (name, alias, numbers[(name, digest)], set_at, int(rolled)))
        if not rolled:
            holders[(name, alias)] = numbers[(name, digest)]
    for (name, alias), version in sorted(holders.items()):
        conn.execute("INSERT INTO aliases VALUES (?, ?, ?)", (name, alias, version))
    _restore_extras(conn, numbers, labels, rollbacks)


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, allow_nan=True)

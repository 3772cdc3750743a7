"""A model registry in SQLite beside mlpipe's content store.

Each model name has versions 1, 2, 3...; a version records the content hash (digest) of the
model file, its metadata, metrics, lineage and whether its evaluation gates passed. The model
bytes live in the content store (`<state_dir>/cache/objects`) under that digest, so the same
model content registers once. Aliases (e.g. `champion`) point at a version of a model; every
change is appended to `alias_history`, and `rollback` moves an alias back to the version that
held it before. Every write is one SQLite transaction, so a killed process leaves the
registry either before or after the change, never in between.
"""

from __future__ import annotations

import builtins
import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlpipe.errors import DatabaseUnusable, RegistryError, did_you_mean, is_damage
from mlpipe.state.hashing import hash_file
from mlpipe.state.objects import ObjectStore

DB_NAME = "registry.db"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    name TEXT NOT NULL, version INTEGER NOT NULL, digest TEXT NOT NULL, meta TEXT NOT NULL,
    metrics TEXT NOT NULL, lineage TEXT NOT NULL, gates_passed INTEGER NOT NULL,
    created_at TEXT NOT NULL, PRIMARY KEY (name, version), UNIQUE (name, digest));
CREATE TABLE IF NOT EXISTS aliases (
    name TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL,
    PRIMARY KEY (name, alias));
CREATE TABLE IF NOT EXISTS alias_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, alias TEXT NOT NULL,
    version INTEGER NOT NULL, set_at TEXT NOT NULL, rolled_back INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS alias_rollbacks (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, alias TEXT NOT NULL,
    from_version INTEGER NOT NULL, to_version INTEGER NOT NULL, at TEXT NOT NULL,
    after_id INTEGER NOT NULL);
"""
SCHEMA = _SCHEMA  # the tables, for the merge of two clones' registries (models/sync.py)


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model.

    Attributes:
        name: The model's name.
        version: 1, 2, 3... per name.
        digest: Content hash of the model file (its name in the content store).
        meta: The model's metadata (e.g. train's model_meta).
        metrics: Flat metrics {name: value}.
        lineage: Where the model came from (commit, input hashes, params...).
        gates_passed: Whether its evaluation gates passed.
        created_at: UTC time of registration, ISO 8601.
    """

    name: str
    version: int
    digest: str
    meta: dict
    metrics: dict
    lineage: dict
    gates_passed: bool
    created_at: str

    @property
    def ref(self) -> str:
        """The reference that names exactly this version: `name:version`."""
        return f"{self.name}:{self.version}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@contextmanager
def transaction(db_path: Path, schema: str, write: bool) -> Iterator[sqlite3.Connection]:
    """A connection to the registry database inside one transaction (IMMEDIATE for writes),
    committed on success, with `schema` (CREATE ... IF NOT EXISTS) applied first.

    Reads of a registry that does not exist yet see an empty one and create no files.

    Raises:
        DatabaseUnusable: The database is damaged, busy past the timeout, or unreadable.
    """
    if write:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    target = str(db_path) if write or db_path.exists() else ":memory:"
    try:
        with closing(sqlite3.connect(target, timeout=30, isolation_level=None)) as conn:
            conn.row_factory = sqlite3.Row
            conn.executescript(schema)
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.IntegrityError):
            raise
        fix = ("restore it from a backup, or move it aside to start an empty registry (model "
               "files stay in the cache)" if is_damage(exc) else
               "check the file and its directory, then try again")
        raise DatabaseUnusable(db_path, "model registry", str(exc), fix) from None


def _row_to_version(row: sqlite3.Row) -> ModelVersion:
    return ModelVersion(
        name=row["name"], version=int(row["version"]), digest=row["digest"],
        meta=json.loads(row["meta"]), metrics=json.loads(row["metrics"]),
        lineage=json.loads(row["lineage"]), gates_passed=bool(row["gates_passed"]),
        created_at=row["created_at"])


def parse_ref(ref: str) -> tuple[str, str | None, int | None]:
    """Split a reference into (name, alias, version).

    Args:
        ref: `name`, `name@alias` or `name:version`.

    Returns:
        The name, the alias or None, and the version or None.

    Raises:
        RegistryError: The reference is malformed.
    """
    name, alias, version = ref, None, None
    if "@" in ref:
        name, alias = ref.split("@", 1)
        if not alias:
            raise RegistryError(f"bad model reference '{ref}': empty alias after '@'")
    elif ":" in ref:
        name, number = ref.split(":", 1)
        if not number.isdigit() or int(number) < 1:
            raise RegistryError(
                f"bad model reference '{ref}': version must be a positive integer"
            )
        version = int(number)
    if not _NAME_RE.match(name):
        raise RegistryError(
            f"bad model reference '{ref}': use NAME, NAME@ALIAS or NAME:VERSION"
        )
    return name, alias, version


def check_name(kind: str, value: str) -> None:
    """Raise RegistryError unless `value` is a usable model or alias name.

    Args:
        kind: "model" or "alias", for the message.
        value: The name to check.
    """
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise RegistryError(
            f"bad {kind} name {value!r}: use letters, digits, '_', '-' or '.', "
            "starting with a letter or digit"
        )


class Registry:
    """The model registry of one pipeline, stored under its state directory."""

    def __init__(self, state_dir: Path) -> None:
        """Open (lazily create) the registry.

        Args:
            state_dir: The pipeline's `.mlpipe` directory; the DB is `state_dir/registry.db`.
        """
        self.state_dir = Path(state_dir)
        self.db_path = self.state_dir / DB_NAME
        self.store = ObjectStore(self.state_dir / "cache" / "objects")

    def _connect(self, write: bool = False) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self.db_path, _SCHEMA, write)

    def register(self, name: str, model_file: Path, meta: dict, metrics: dict, lineage: dict,
                 gates_passed: bool = True) -> ModelVersion:
        """Record a model file as the next version of `name` (or find it if already there).

        The bytes go into the content store first; the row is written in one transaction.
        Registering content that `name` already holds returns that version unchanged.

        Args:
            name: The model's name.
            model_file: The model file to store.
            meta: Model metadata (JSON-serialisable).
            metrics: Flat metrics (JSON-serialisable).
            lineage: Provenance of the model (JSON-serialisable).
            gates_passed: Whether the model passed its evaluation gates.

        Returns:
            The new or existing version.
        """
        check_name("model", name)
        model_file = Path(model_file)
        if not model_file.is_file():
            raise RegistryError(f"model file {model_file} does not exist")
        digest = hash_file(model_file)
        self._store_model(model_file, digest)
        with self._connect(write=True) as conn:
            row = conn.execute("SELECT * FROM versions WHERE name = ? AND digest = ?",
                               (name, digest)).fetchone()
            if row is not None:
                return _row_to_version(row)
            (latest,) = conn.execute("SELECT COALESCE(MAX(version), 0) FROM versions "
                                     "WHERE name = ?", (name,)).fetchone()
            conn.execute(
                "INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (name, latest + 1, digest, _dumps(meta), _dumps(metrics), _dumps(lineage),
                 int(bool(gates_passed)), _now()),
            )
            row = conn.execute("SELECT * FROM versions WHERE name = ? AND version = ?",
                               (name, latest + 1)).fetchone()
        return _row_to_version(row)

    def get(self, ref: str) -> ModelVersion:
        """The version a reference names.

        Args:
            ref: `iris` (the latest version), `iris@champion` (an alias) or `iris:3`.

        Returns:
            The version.

        Raises:
            RegistryError: Unknown model, alias or version, or a malformed reference.
        """
        name, alias, version = parse_ref(ref)
        with self._connect() as conn:
            self._require_model(conn, name)
            if alias is not None:
                version = self._alias_version(conn, name, alias)
            if version is None:
                row = conn.execute("SELECT * FROM versions WHERE name = ? "
                                   "ORDER BY version DESC LIMIT 1", (name,)).fetchone()
            else:
                row = self._require_version(conn, name, version)
        return _row_to_version(row)

    def model_path(self, version: ModelVersion) -> Path:
        """The stored model file of a version, after checking its bytes against the digest.

        Args:
            version: A version from this registry.

        Returns:
            The path of the (read-only) model file in the content store.

        Raises:
            RegistryError: The file is missing or its content does not match the digest.
        """
        path = self.store.path_of(version.digest)
        if not path.is_file():
            raise RegistryError(
                f"model {version.ref}: stored file {path} is missing; register it again"
            )
        if hash_file(path) != version.digest:
            raise RegistryError(
                f"model {version.ref}: stored file {path} does not match its digest "
                f"{version.digest} (tampered or corrupt); register it again"
            )
        return path

    def set_alias(self, name: str, alias: str, version: int) -> None:
        """Point `name@alias` at `version`, recording the change in the alias history.

        Setting an alias to the version it already holds changes nothing.

        Args:
            name: The model's name.
            alias: The alias, e.g. `champion`.
            version: An existing version of the model.
        """
        check_name("alias", alias)
        with self._connect(write=True) as conn:
            self._require_model(conn, name)
            self._require_version(conn, name, version)
            current = conn.execute("SELECT version FROM aliases WHERE name = ? AND alias = ?",
                                   (name, alias)).fetchone()
            if current is not None and current["version"] == version:
                return
            conn.execute("INSERT OR REPLACE INTO aliases VALUES (?, ?, ?)",
                         (name, alias, version))
            conn.execute("INSERT INTO alias_history (name, alias, version, set_at) "
                         "VALUES (?, ?, ?, ?)", (name, alias, version, _now()))

    def promote(self, name: str, version: int, alias: str, force: bool = False) -> int | None:
        """Point `name@alias` at `version` unless its gates failed (or `force`).

        Args:
            name: The model's name.
            version: An existing version of the model.
            alias: The alias to move, e.g. `champion`.
            force: Promote even a version whose evaluation gates failed.

        Returns:
            The version that held the alias before, or None.

        Raises:
            RegistryError: Unknown model or version, or failed gates without `force`.
        """
        target = self.get(f"{name}:{version}")
        if not target.gates_passed and not force:
            raise RegistryError(
                f"{target.ref} failed its evaluation gates; refusing to make it '{alias}' "
                "(use --force to promote it anyway)"
            )
        previous = self.aliases(name).get(alias)
        self.set_alias(name, alias, version)
        return previous

    def rollback(self, name: str, alias: str) -> ModelVersion:
        """Move `name@alias` back to the version that held it before the current one.

        Rollbacks stack: promoting 1, 2, 3 then rolling back twice leaves the alias on 1.

        Args:
            name: The model's name.
            alias: The alias to move back.

        Returns:
            The version the alias now points at.

        Raises:
            RegistryError: Unknown model or alias, or no earlier holder to go back to.
        """
        with self._connect(write=True) as conn:
            self._require_model(conn, name)
            self._alias_version(conn, name, alias)
            live = conn.execute(
                "SELECT id, version FROM alias_history WHERE name = ? AND alias = ? "
                "AND rolled_back = 0 ORDER BY id DESC LIMIT 2", (name, alias)).fetchall()
            if len(live) < 2:
                raise RegistryError(
                    f"cannot roll back {name}@{alias}: no earlier version held it"
                )
            conn.execute("UPDATE alias_history SET rolled_back = 1 WHERE id = ?",
                         (live[0]["id"],))
            previous = int(live[1]["version"])
            conn.execute("UPDATE aliases SET version = ? WHERE name = ? AND alias = ?",
                         (previous, name, alias))
            conn.execute("INSERT INTO alias_rollbacks (name, alias, from_version, to_version, "
                         "at, after_id) VALUES (?, ?, ?, ?, ?, (SELECT MAX(id) FROM "
                         "alias_history))", (name, alias, int(live[0]["version"]), previous,
                                             _now()))
            row = self._require_version(conn, name, previous)
        return _row_to_version(row)

    def list(self) -> list[ModelVersion]:
        """Every version of every model, by name then version."""
        with self._connect() as conn:
            rows = conn.execute("SELECT * FROM versions ORDER BY name, version").fetchall()
        return [_row_to_version(row) for row in rows]

    def aliases(self, name: str) -> dict[str, int]:
        """The aliases of a model: {alias: version} (empty for an unknown model)."""
        with self._connect() as conn:
            rows = conn.execute("SELECT alias, version FROM aliases WHERE name = ? "
                                "ORDER BY alias", (name,)).fetchall()
        return {row["alias"]: int(row["version"]) for row in rows}

    def alias_history(self, name: str, alias: str) -> builtins.list[dict[str, Any]]:
        """The changes of one alias, oldest first: {version, set_at, rolled_back}."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT version, set_at, rolled_back FROM alias_history "
                "WHERE name = ? AND alias = ? ORDER BY id", (name, alias)).fetchall()
        return [{"version": int(r["version"]), "set_at": r["set_at"],
                 "rolled_back": bool(r["rolled_back"])} for r in rows]

    def _store_model(self, model_file: Path, digest: str) -> None:
        """Put the model into the content store, replacing a stored copy that was damaged."""
        stored = self.store.path_of(digest)
        if stored.is_file() and hash_file(stored) != digest:
            stored.chmod(0o644)
            stored.unlink()
        self.store.put_file(model_file, digest)

    def _require_model(self, conn: sqlite3.Connection, name: str) -> None:
        if conn.execute("SELECT 1 FROM versions WHERE name = ? LIMIT 1", (name,)).fetchone():
            return
        known = [r["name"] for r in conn.execute("SELECT DISTINCT name FROM versions")]
        raise RegistryError(f"unknown model '{name}'{did_you_mean(name, known)}")

    def _require_version(self, conn: sqlite3.Connection, name: str, version: int) -> sqlite3.Row:
        row = conn.execute("SELECT * FROM versions WHERE name = ? AND version = ?",
                           (name, version)).fetchone()
        if row is None:
            (latest,) = conn.execute("SELECT MAX(version) FROM versions WHERE name = ?",
                                     (name,)).fetchone()
            raise RegistryError(
                f"unknown version {version} of model '{name}' (versions 1..{latest})"
            )
        return row

    def _alias_version(self, conn: sqlite3.Connection, name: str, alias: str) -> int:
        row = conn.execute("SELECT version FROM aliases WHERE name = ? AND alias = ?",
                           (name, alias)).fetchone()
        if row is None:
            known = [r["alias"] for r in conn.execute(
                "SELECT alias FROM aliases WHERE name = ?", (name,))]
            hint = did_you_mean(alias, known) or (
                f" (aliases: {', '.join(sorted(known))})" if known else " (it has no aliases)"
            )
            raise RegistryError(f"unknown alias '{alias}' of model '{name}'{hint}")
        return int(row["version"])


def _dumps(obj: Any) -> str:
    """JSON for a stored field; raises RegistryError for data JSON cannot hold."""
    try:
        return json.dumps(obj, sort_keys=True, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise RegistryError(f"cannot store registry data: {exc}") from exc

"""Model cards kept with their versions, in the registry's SQLite database.

A card is stored once per version (keyed by model name and digest, like the version itself)
and never replaced: storing a card for a version that has one keeps the first and returns it,
so registering the same model bytes again leaves its card as it was. A version registered
before cards were kept, or whose registration was cut off between the version and its card
(each is its own transaction), gets its card the next time the same bytes are registered.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpipe.models.registry import DB_NAME, RegistryError, transaction

if TYPE_CHECKING:
    from mlpipe.models.registry import ModelVersion

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cards (
    name TEXT NOT NULL, digest TEXT NOT NULL, card TEXT NOT NULL, PRIMARY KEY (name, digest));
"""
SCHEMA = _SCHEMA  # the table, for the merge of two clones' registries (models/sync.py)


class CardStore:
    """The cards of one pipeline's registry (`<state_dir>/registry.db`)."""

    def __init__(self, state_dir: Path) -> None:
        """Open (lazily create) the card table.

        Args:
            state_dir: The pipeline's `.mlpipe` directory.
        """
        self.db_path = Path(state_dir) / DB_NAME

    def _connect(self, write: bool) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self.db_path, _SCHEMA, write)

    def put(self, version: ModelVersion, card: Mapping[str, Any]) -> dict[str, Any]:
        """Store `card` for `version` unless it has one; return the card it now has.

        Args:
            version: A registered version.
            card: Its card (JSON-serialisable).

        Returns:
            The stored card: the one given, or the one stored earlier.

        Raises:
            RegistryError: The card cannot be stored as JSON.
        """
        try:
            text = json.dumps(card, sort_keys=True, allow_nan=True)
        except (TypeError, ValueError) as exc:
            raise RegistryError(f"cannot store the card of {version.ref}: {exc}") from exc
        with self._connect(write=True) as conn:
            conn.execute("INSERT OR IGNORE INTO cards VALUES (?, ?, ?)",
                         (version.name, version.digest, text))
            (stored,) = conn.execute("SELECT card FROM cards WHERE name = ? AND digest = ?",
                                     (version.name, version.digest)).fetchone()
        return json.loads(stored)

    def get(self, version: ModelVersion) -> dict[str, Any] | None:
        """The card of `version`, or None when it has none."""
        with self._connect(write=False) as conn:
            row = conn.execute("SELECT card FROM cards WHERE name = ? AND digest = ?",
                               (version.name, version.digest)).fetchone()
        return json.loads(row[0]) if row else None

    def require(self, version: ModelVersion) -> dict[str, Any]:
        """The card of `version`.

        Raises:
            RegistryError: The version has no card (registered before cards were kept).
        """
        card = self.get(version)
        if card is None:
            raise RegistryError(
                f"model {version.ref} has no card (registered before mlpipe kept cards); "
                "register the same model file again (`mlpipe run --force --no-deps STAGE` "
                "for its register stage) to add one"
            )
        return card

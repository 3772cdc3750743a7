"""What people add to a registered version: tags, a description, and archiving; and search.

Kept in their own table (`version_labels`) of the registry database, beside the versions,
so registering, promotion and rollback are untouched by them. An archived version stays in
the registry (its model, card and lineage remain readable by `name:version`), is left out of
`models search` unless asked, cannot be promoted, and cannot be archived while an alias
points at it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from mlpipe.models.registry import ModelVersion, Registry, RegistryError, parse_ref, transaction

# A metric condition of `search`: the metric, how to compare, and the number to compare with.
Condition = tuple[str, Callable[[float, float], bool], float]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS version_labels (
    name TEXT NOT NULL, version INTEGER NOT NULL, tags TEXT NOT NULL DEFAULT '{}',
    description TEXT NOT NULL DEFAULT '', archived INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (name, version));
"""
SCHEMA = _SCHEMA  # for the merge of two clones' registries (models/sync.py)


@dataclass(frozen=True)
class Labels:
    """A version's tags, description and archived flag.

    Attributes:
        tags: Tag -> value (a tag set without a value holds "").
        description: Free text ("" for none).
        archived: Whether the version is archived.
    """

    tags: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    archived: bool = False


class LabelStore:
    """Tags, descriptions and archiving for the versions of one registry."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def _connect(self, write: bool = False) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self.registry.db_path, _SCHEMA, write)

    def of(self, version: ModelVersion) -> Labels:
        """The labels of a version (empty ones when none were set)."""
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM version_labels WHERE name = ? AND version = ?",
                               (version.name, version.version)).fetchone()
        return _labels(row)

    def _update(self, ref: str, change: Mapping[str, Any]) -> tuple[ModelVersion, Labels]:
        version = self.registry.get(_exact(ref))
        old = self.of(version)
        new = Labels(**{"tags": dict(old.tags), "description": old.description,
                        "archived": old.archived, **change})
        with self._connect(write=True) as conn:
            conn.execute("INSERT OR REPLACE INTO version_labels VALUES (?, ?, ?, ?, ?)",
                         (version.name, version.version, json.dumps(dict(new.tags),
                                                                     sort_keys=True),
                          new.description, int(new.archived)))
        return version, new

    def tag(self, ref: str, tags: Mapping[str, str], remove: Sequence[str] = ()) -> Labels:
        """Set `tags` on the version `ref` names and drop the tags in `remove`."""
        current = self.of(self.registry.get(_exact(ref))).tags
        missing = [t for t in remove if t not in current]
        if missing:
            raise RegistryError(f"{ref} has no tag '{missing[0]}' "
                                f"(tags: {', '.join(sorted(current)) or 'none'})")
        merged = {k: v for k, v in {**current, **tags}.items() if k not in remove}
        return self._update(ref, {"tags": merged})[1]

    def describe(self, ref: str, text: str) -> Labels:
        """Set the description of the version `ref` names."""
        return self._update(ref, {"description": text.strip()})[1]

    def archive(self, ref: str, archived: bool = True) -> Labels:
        """Archive (or restore) a version; refused while an alias points at it."""
        version = self.registry.get(_exact(ref))
        held = sorted(a for a, v in self.registry.aliases(version.name).items()
                      if v == version.version)
        if archived and held:
            raise RegistryError(f"{version.ref} is {version.name}@{held[0]}; move the alias "
                                "first (`mlpipe models promote` or `rollback`)")
        return self._update(ref, {"archived": archived})[1]

    def search(self, tags: Mapping[str, str | None], conditions: Sequence[Condition] = (),
               include_archived: bool = False) -> list[tuple[ModelVersion, Labels]]:
        """Versions with all `tags` (None: any value) whose metrics pass every condition.

        Args:
            tags: Tag -> required value, or None for "has the tag".
            conditions: (metric, comparison, number) triples, e.g. ("accuracy",
                operator.ge, 0.9); a version without the metric does not match.
            include_archived: Also list archived versions.
        """
        found = []
        for version in self.registry.list():
            labels = self.of(version)
            if labels.archived and not include_archived:
                continue
            if any(k not in labels.tags or (v is not None and labels.tags[k] != v)
                   for k, v in tags.items()):
                continue
            if all(isinstance(version.metrics.get(metric), int | float)
                   and compare(float(version.metrics[metric]), number)
                   for metric, compare, number in conditions):
                found.append((version, labels))
        return found


def require_active(registry: Registry, name: str, version: int) -> None:
    """Raise RegistryError when `name:version` is archived (it cannot be promoted)."""
    if LabelStore(registry).of(registry.get(f"{name}:{version}")).archived:
        raise RegistryError(f"{name}:{version} is archived; restore it first "
                            f"(`mlpipe models archive {name}:{version} --restore`)")


def _exact(ref: str) -> str:
    """`ref` when it names one version (NAME:VERSION or NAME@ALIAS), for changes."""
    _, alias, version = parse_ref(ref)
    if alias is None and version is None:
        raise RegistryError(f"name the version to change: {ref}:VERSION or {ref}@ALIAS")
    return ref


def _labels(row: sqlite3.Row | None) -> Labels:
    if row is None:
        return Labels()
    return Labels(json.loads(row["tags"]), row["description"], bool(row["archived"]))

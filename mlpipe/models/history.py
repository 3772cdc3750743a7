"""A model's history with times: versions registered, aliases set, aliases rolled back.

Read from the registry's tables (`versions`, `alias_history`, `alias_rollbacks`). Alias
events keep the order they happened in (a rollback records the last alias change before
it); registrations are placed among them by time.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlpipe.models.registry import Registry, RegistryError, parse_ref, transaction

_EVENTS = "registered", "alias set", "rolled back"


@dataclass(frozen=True)
class ModelEvent:
    """One change to a model.

    Attributes:
        at: UTC time, ISO 8601.
        event: "registered", "alias set" or "rolled back".
        version: The version registered, or the one the alias now points at.
        alias: The alias concerned (None for a registration).
        previous: For a rollback, the version the alias held before.
    """

    at: str
    event: str
    version: int
    alias: str | None = None
    previous: int | None = None

    def describe(self, name: str) -> str:
        """One line: `2026-12-04T18:00:00+00:00  iris@champion -> 1 (rolled back from 2)`."""
        if self.alias is None:
            return f"{self.at}  {name}:{self.version} registered"
        back = f" (rolled back from {self.previous})" if self.event == "rolled back" else ""
        return f"{self.at}  {name}@{self.alias} -> {self.version}{back}"


def history(registry: Registry, ref: str) -> list[ModelEvent]:
    """The changes of model `NAME` (or only of its alias, for `NAME@ALIAS`), oldest first.

    Raises:
        RegistryError: An unknown model or alias, or a reference that is neither form.
    """
    name, alias, version = parse_ref(ref)
    if version is not None:
        raise RegistryError(f"history takes NAME or NAME@ALIAS, not a version ('{ref}')")
    # Unknown model or alias: the registry's own message. Opening it also brings an older
    # registry's tables up to date, so the reads below need no schema of their own.
    registry.get(ref)
    only = "" if alias is None else " AND alias = ?"
    args = (name,) if alias is None else (name, alias)
    with transaction(registry.db_path, "", write=False) as conn:
        sets = conn.execute("SELECT id, alias, version, set_at FROM alias_history WHERE "
                            f"name = ?{only}", args).fetchall()
        backs = conn.execute("SELECT id, alias, from_version, to_version, at, after_id FROM "
                             f"alias_rollbacks WHERE name = ?{only}", args).fetchall()
        made = [] if alias is not None else conn.execute(
            "SELECT version, created_at FROM versions WHERE name = ? ORDER BY version",
            (name,)).fetchall()
    keyed = [((r["id"], 0, 0), ModelEvent(r["set_at"], _EVENTS[1], int(r["version"]),
                                          r["alias"])) for r in sets]
    keyed += [((r["after_id"], 1, r["id"]), ModelEvent(r["at"], _EVENTS[2], int(r["to_version"]),
                                                       r["alias"], int(r["from_version"])))
              for r in backs]
    events = [event for _, event in sorted(keyed, key=lambda pair: pair[0])]
    registered = [ModelEvent(r["created_at"], _EVENTS[0], int(r["version"])) for r in made]
    return _merge(registered, events)


def _merge(registered: list[ModelEvent], events: list[ModelEvent]) -> list[ModelEvent]:
    """Registrations placed before the first alias event that is not earlier than them."""
    merged: list[ModelEvent] = []
    pending = list(registered)
    for event in events:
        while pending and pending[0].at <= event.at:
            merged.append(pending.pop(0))
        merged.append(event)
    return merged + pending


"""Comparing two snapshots' params or metrics: pure functions over plain mappings."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ABSENT = None


@dataclass(frozen=True)
class Change:
    """One value in two snapshots.

    Attributes:
        path: The metrics file ("" for params).
        key: Dotted param or metric name.
        old: Value in the first snapshot (None when absent).
        new: Value in the second snapshot (None when absent).
    """

    path: str
    key: str
    old: Any
    new: Any

    @property
    def delta(self) -> float | None:
        """new - old when both are numbers, else None."""
        if _number(self.old) and _number(self.new):
            return float(self.new) - float(self.old)
        return None

    @property
    def changed(self) -> bool:
        return self.old != self.new

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "key": self.key, "old": self.old, "new": self.new,
                "change": self.delta}


def _number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def diff_values(old: Mapping[str, Any], new: Mapping[str, Any], path: str = "",
                show_all: bool = False) -> list[Change]:
    """Changes between two flat mappings, sorted by key (unchanged ones too with `show_all`)."""
    changes = [Change(path, key, old.get(key, ABSENT), new.get(key, ABSENT))
               for key in sorted({*old, *new})]
    return [c for c in changes if show_all or c.changed]


def diff_metrics(old: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]],
                 show_all: bool = False) -> list[Change]:
    """Changes between two {metrics file: {metric: value}} mappings."""
    return [change for path in sorted({*old, *new})
            for change in diff_values(old.get(path, {}), new.get(path, {}), path, show_all)]


def format_value(value: Any) -> str:
    """A value for a table cell: floats to 4 significant decimals, absent as '-'."""
    if value is ABSENT:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_delta(delta: float | None) -> str:
    if delta is None:
        return ""
    return f"{delta:+.4g}"


def markdown(changes: list[Change], with_path: bool) -> str:
    """A Markdown table (for pull-request comments and job summaries)."""
    head = ["Path"] if with_path else []
    rows = ["| " + " | ".join([*head, "Name", "Old", "New", "Change"]) + " |",
            "|" + "---|" * (len(head) + 4)]
    for c in changes:
        cells = [c.path] if with_path else []
        cells += [f"`{c.key}`", format_value(c.old), format_value(c.new), format_delta(c.delta)]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"

"""Which stages a change makes run: two lock files compared stage by stage. Pure.

A pull request's committed lock file against its base's: a stage whose key differs was
re-run by the change, and the entries say why (params, deps, definition) in the words
`mlpipe status` uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlpipe.state.lockfile import LockEntry


@dataclass(frozen=True)
class StageChange:
    """One stage whose lock entry differs between base and head.

    Attributes:
        stage: Stage name.
        reasons: Why, for a reviewer ("param model.C 1.0 -> 0.5", "new stage").
    """

    stage: str
    reasons: tuple[str, ...]

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def changed_stages(base: Mapping[str, LockEntry],
                   head: Mapping[str, LockEntry]) -> list[StageChange]:
    """Stages of `head` whose entry differs from `base`'s, then stages `head` dropped."""
    changes = []
    for name, now in head.items():
        was = base.get(name)
        if was is None:
            changes.append(StageChange(name, ("new stage",)))
        elif was.key != now.key:
            changes.append(StageChange(name, tuple(_reasons(was, now)) or ("key changed",)))
    changes += [StageChange(name, ("stage removed",)) for name in base if name not in head]
    return changes


def _reasons(was: LockEntry, now: LockEntry) -> list[str]:
    reasons = []
    if was.kind != now.kind:
        reasons.append(f"kind changed {was.kind} -> {now.kind}")
    elif was.definition != now.definition:
        reasons.append("command changed" if now.kind == "command" else "definition changed")
    for key in sorted({*was.params, *now.params}):
        old, new = was.params.get(key, _ABSENT), now.params.get(key, _ABSENT)
        if old != new:
            reasons.append(f"param {key} {_show(old)} -> {_show(new)}")
    for path in now.deps:
        if path not in was.deps:
            reasons.append(f"dep {path} added")
        elif was.deps[path] != now.deps[path]:
            reasons.append(f"dep {path} changed")
    reasons += [f"dep {path} removed" for path in was.deps if path not in now.deps]
    return reasons


_ABSENT = object()


def _show(value: Any) -> str:
    return "(unset)" if value is _ABSENT else repr(value) if isinstance(value, str) else str(value)

"""Merging lock files stage by stage, as git's merge driver for them (`mlpipe lock merge`).

A lock file is one entry per stage, and each entry is a fact about one stage's result, so
two branches' lock files merge entry by entry against their common base:

- an entry the same on both sides (or changed on neither) is kept;
- an entry changed (added, edited or removed) on one side only takes that side;
- an entry changed on both sides to different results is dropped, and the stage is listed
  under `unmerged:`, so the next `mlpipe status` says it must run: "changed on both sides of
  a merge". Neither side's result can stand for the merged inputs, and running it again is
  what settles it.

No text merge happens, so a merge, a rebase and a cherry-pick never leave conflict markers
in a lock file. Pure: values in, values out; the CLI reads and writes the files.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlpipe.state.lockfile import Lock


@dataclass(frozen=True)
class MergeResult:
    """The merged lock and what it dropped.

    Attributes:
        lock: The merged entries, with `unmerged` set.
        dropped: Stages changed on both sides to different results, now dropped.
    """

    lock: Lock
    dropped: tuple[str, ...]


def merge(base: Lock, ours: Lock, theirs: Lock) -> MergeResult:
    """Merge two lock files against their common base (see the module docstring)."""
    entries = {}
    dropped = []
    for name in sorted({*base, *ours, *theirs}):
        old, mine, other = base.get(name), ours.get(name), theirs.get(name)
        if mine == other or other == old:
            chosen = mine
        elif mine == old:
            chosen = other
        else:
            dropped.append(name)
            continue
        if chosen is not None:
            entries[name] = chosen
    unmerged = (ours.unmerged | theirs.unmerged | frozenset(dropped)) - set(entries)
    return MergeResult(Lock(entries, unmerged), tuple(dropped))

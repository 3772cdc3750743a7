"""Checks on what mlpipe reads back from its own files, as strict as those on the pipeline file.

The lock file, its parsed copy under `.mlpipe/` and run-cache entries (local or pulled) name
paths that a restore writes to. Each such path must be a plain relative POSIX path below the
pipeline root (no absolute part, no `..`, no NUL, no backslash, no empty part), and the
outputs an entry names must be exactly the outputs its stage declares; an entry that fails is
refused rather than restored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class RecordMismatch(ValueError):
    """A stored entry names other outputs than its stage declares; the message says which."""


def path_problem(path: Any) -> str | None:
    """Why `path` may not name a file below the root, or None when it may."""
    if not isinstance(path, str) or not path:
        return f"path {path!r} is not a non-empty string"
    if "\0" in path:
        return f"path {path!r} holds a NUL character"
    if "\\" in path:
        return f"path {path!r} holds a backslash"
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        return f"path {path!r} is absolute"
    parts = path.split("/")
    if ".." in parts:
        return f"path {path!r} leaves the root through '..'"
    if any(part in ("", ".") for part in parts):
        return f"path {path!r} is not in normal form"
    return None


def dep_problem(path: Any) -> str | None:
    """Why `path` cannot name a dep (which may lie outside the root), or None."""
    if not isinstance(path, str) or not path:
        return f"path {path!r} is not a non-empty string"
    if "\0" in path:
        return f"path {path!r} holds a NUL character"
    return None


def paths_problem(paths: Iterable[Any]) -> str | None:
    """The first problem among `paths`, or None."""
    for path in paths:
        problem = path_problem(path)
        if problem is not None:
            return problem
    return None


def lock_problem(stages: Mapping[str, Any]) -> str | None:
    """Why a lock file's entries (stage name -> LockEntry) cannot be used, or None."""
    for name, entry in stages.items():
        for field in ("deps", "outs"):
            value = getattr(entry, field)
            if not isinstance(value, Mapping):
                return f"stage '{name}': '{field}' is not a mapping"
            # deps may lie outside the root (`../shared/raw.csv`): they are only read and
            # compared, so they need only be paths; outputs are written, so they stay below
            problem = paths_problem(value) if field == "outs" else next(
                filter(None, map(dep_problem, value)), None)
            if problem is None and field == "outs" and not all(
                    isinstance(digest, str) for digest in value.values()):
                problem = "an output hash is not a string"
            if problem is not None:
                return f"stage '{name}' {field}: {problem}"
    return None


def check_outputs(stage: str, recorded: Iterable[str], declared: Iterable[str]) -> None:
    """Raise RecordMismatch unless `recorded` names exactly the `declared` outputs."""
    have, want = sorted(recorded), sorted(declared)
    if have != want:
        raise RecordMismatch(f"stage '{stage}' records outputs {have}, but declares {want}")

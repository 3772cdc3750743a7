"""`mlpipe.lock`: what each stage last produced, and from what.

Meant to be committed beside the pipeline file, so it is written for clean diffs and is a pure
function of the pipeline and the content it ran on: YAML with a format version, stages sorted
by name, fields in a fixed order, paths relative to the pipeline root, no timestamps and
nothing that depends on the clone, the machine or the commit (which commit produced what
stays in the run history and the run-cache). It is replaced atomically, so a killed run
leaves the previous complete file.

Lock files written before this format dropped the per-stage `commit:` still read; the field
is ignored. `unmerged:` lists the stages a lock merge dropped because both sides changed them
(see state/lockmerge.py); it goes away as they run again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlpipe.errors import LockConflictError, LockFileError
from mlpipe.state.fsutil import atomic_write_text
from mlpipe.state.hashing import hash_bytes
from mlpipe.state.recordcheck import lock_problem

FORMAT = 1
MEMO_FORMAT = 1
HEADER = "# Written by mlpipe run: what each stage last produced. Commit it with the pipeline.\n"


@dataclass(frozen=True)
class LockEntry:
    """One stage's record.

    Attributes:
        kind: The stage's kind.
        key: The stage key its outputs were produced under.
        definition: The stage's template hash (see fingerprint.template_hash).
        cmd: The command, for command stages (shown in diffs, used for "command changed").
        params: Used param values.
        deps: Dep path -> content hash.
        outs: Out path -> content hash.
    """

    kind: str
    key: str
    definition: str
    cmd: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    deps: Mapping[str, str | None] = field(default_factory=dict)
    outs: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": self.kind, "key": self.key,
                                "definition": self.definition}
        if self.cmd is not None:
            body["cmd"] = self.cmd
        body["params"] = _sorted(dict(self.params))
        body["deps"] = dict(sorted(self.deps.items()))
        body["outs"] = dict(sorted(self.outs.items()))
        return body


# Fields of older lock files that are read and ignored: the commit a stage was run at made
# two clones with the same results write different lock files.
DROPPED_FIELDS = ("commit",)


class Lock(dict[str, LockEntry]):
    """Stage name -> entry, and the stages a merge dropped (see the module docstring).

    Attributes:
        unmerged: Names of stages changed on both sides of a merge, not re-run since.
    """

    def __init__(self, entries: Mapping[str, LockEntry] | None = None,
                 unmerged: frozenset[str] = frozenset()) -> None:
        super().__init__(entries or {})
        self.unmerged = unmerged


def _sorted(value: Any) -> Any:
    """Mappings at every depth in key order, so equal values give equal text."""
    if isinstance(value, Mapping):
        return {key: _sorted(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [_sorted(item) for item in value]
    return value


def read(path: Path, memo: Path | None = None) -> Lock:
    """Stage name -> entry; {} when the file does not exist.

    Args:
        path: The lock file.
        memo: A file that keeps the parsed form of the lock file last read here, under the
            hash of its bytes: an unchanged lock file is then read as JSON, not parsed as
            YAML again (50-70 ms at 500 stages). Best effort: a memo that is missing, stale
            or unreadable is ignored and rewritten.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return Lock()
    except OSError as exc:
        raise LockFileError(path, str(exc)) from None
    if memo is None:
        return loads(_text(data, path), path)
    digest = hash_bytes(data)
    raw = _memo_get(memo, digest)
    if raw is not _MISSING:
        try:
            return _entries(raw, path)
        except LockFileError:  # an edited or damaged copy: the lock file itself decides
            pass
    raw = _parse(_text(data, path), path)
    _memo_put(memo, digest, raw)
    return _entries(raw, path)


def _text(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LockFileError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None


_MISSING = object()


def _memo_get(memo: Path, digest: str) -> Any:
    """The parsed lock file the memo keeps for `digest`, or _MISSING."""
    try:
        kept = json.loads(memo.read_bytes())
    except (OSError, ValueError):
        return _MISSING
    if not isinstance(kept, dict) or kept.get("format") != MEMO_FORMAT or (
            kept.get("digest") != digest):
        return _MISSING
    return kept.get("raw")


def _memo_put(memo: Path, digest: str, raw: Any) -> None:
    """Keep `raw` for `digest`, when JSON gives back exactly `raw` (no dates, int keys...)."""
    try:
        text = json.dumps({"format": MEMO_FORMAT, "digest": digest, "raw": raw})
        if json.loads(text)["raw"] != raw:
            return
        atomic_write_text(memo, text, durable=False)
    except (TypeError, ValueError, OSError):  # not JSON-able, or a read-only state dir
        return


def loads(text: str, path: Path) -> Lock:
    """Stage name -> entry from a lock file's text; `path` names it in errors."""
    return _entries(_parse(text, path), path)


def _parse(text: str, path: Path) -> Any:
    conflict = conflict_line(text)
    if conflict is not None:
        raise LockConflictError(path, conflict)
    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise LockFileError(path, f"invalid YAML: {str(exc).splitlines()[0]}") from None


def conflict_line(text: str) -> int | None:
    """The line number of the first git conflict marker in `text`, or None."""
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith(("<<<<<<< ", ">>>>>>> ", "||||||| ")) or line == "=======":
            return number
    return None


def _entries(raw: Any, path: Path) -> Lock:
    """Stage name -> entry from the parsed document."""
    if raw is None:
        return Lock()
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        found = raw.get("format") if isinstance(raw, dict) else None
        raise LockFileError(path, f"format {found!r}, expected {FORMAT}")
    stages = raw.get("stages") or {}
    if not isinstance(stages, dict):
        raise LockFileError(path, "'stages' must be a mapping")
    entries: dict[str, LockEntry] = {}
    for name, body in stages.items():
        if isinstance(body, dict):
            body = {k: v for k, v in body.items() if k not in DROPPED_FIELDS}
        try:
            entries[str(name)] = LockEntry(**body)
        except TypeError as exc:
            raise LockFileError(path, f"stage '{name}': {exc}") from None
    problem = lock_problem(entries)
    if problem is not None:
        raise LockFileError(path, problem)
    unmerged = raw.get("unmerged") or []
    if not isinstance(unmerged, list) or not all(isinstance(n, str) for n in unmerged):
        raise LockFileError(path, "'unmerged' must be a list of stage names")
    return Lock(entries, frozenset(unmerged) - set(entries))


def _yaml(body: Any) -> str:
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: 20x faster, same text
    return yaml.dump(body, Dumper=dumper, sort_keys=False, default_flow_style=False,
                     allow_unicode=True, width=1000)


def _entry_text(name: str, entry: LockEntry) -> str:
    """One stage's block, indented under `stages:`."""
    lines = _yaml({name: entry.to_dict()}).splitlines(keepends=True)
    return "".join(f"  {line}" if line.strip() else line for line in lines)


def _compose(blocks: list[str], unmerged: frozenset[str] = frozenset()) -> str:
    stages = "stages:\n" + "".join(blocks) if blocks else "stages: {}\n"
    tail = _yaml({"unmerged": sorted(unmerged)}) if unmerged else ""
    return f"{HEADER}format: {FORMAT}\n{stages}{tail}"


def _unmerged(entries: Mapping[str, LockEntry]) -> frozenset[str]:
    """The merge-dropped stages still without an entry."""
    return frozenset(getattr(entries, "unmerged", frozenset())) - set(entries)


def dumps(entries: Mapping[str, LockEntry]) -> str:
    """The lock file's text (a `Lock`'s `unmerged` stages included)."""
    blocks = [_entry_text(name, entries[name]) for name in sorted(entries)]
    return _compose(blocks, _unmerged(entries))


class LockWriter:
    """Rewrites a lock file as stages finish, serializing only the entries that changed.

    A run rewrites the lock after every stage; re-serializing every entry each time would make
    a long pipeline's bookkeeping quadratic in its number of stages.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._blocks: dict[str, tuple[LockEntry, str]] = {}

    def write(self, entries: Mapping[str, LockEntry], durable: bool = True) -> None:
        blocks = []
        for name in sorted(entries):
            cached = self._blocks.get(name)
            if cached is None or cached[0] is not entries[name]:
                cached = (entries[name], _entry_text(name, entries[name]))
                self._blocks[name] = cached
            blocks.append(cached[1])
        atomic_write_text(self.path, _compose(blocks, _unmerged(entries)), durable)


def write(path: Path, entries: Mapping[str, LockEntry]) -> None:
    """Replace the lock file with these entries (atomically)."""
    atomic_write_text(path, dumps(entries))

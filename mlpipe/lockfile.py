"""`mlpipe.lock`: what each stage last produced, from what, at which commit.

Meant to be committed beside the pipeline file, so it is written for clean diffs: YAML with a
format version, stages sorted by name, fields in a fixed order, no timestamps. It is replaced
atomically, so a killed run leaves the previous complete file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlpipe.errors import LockFileError
from mlpipe.fsutil import atomic_write_text

FORMAT = 1
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
        commit: The git commit the outputs were produced at.
    """

    kind: str
    key: str
    definition: str
    cmd: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    deps: Mapping[str, str | None] = field(default_factory=dict)
    outs: Mapping[str, str] = field(default_factory=dict)
    commit: str | None = None

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": self.kind, "key": self.key,
                                "definition": self.definition}
        if self.cmd is not None:
            body["cmd"] = self.cmd
        body["params"] = _sorted(dict(self.params))
        body["deps"] = dict(sorted(self.deps.items()))
        body["outs"] = dict(sorted(self.outs.items()))
        body["commit"] = self.commit
        return body


def _sorted(value: Any) -> Any:
    """Mappings at every depth in key order, so equal values give equal text."""
    if isinstance(value, Mapping):
        return {key: _sorted(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [_sorted(item) for item in value]
    return value


def read(path: Path) -> dict[str, LockEntry]:
    """Stage name -> entry; {} when the file does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise LockFileError(path, str(exc)) from None
    try:
        raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise LockFileError(path, f"invalid YAML: {str(exc).splitlines()[0]}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        found = raw.get("format") if isinstance(raw, dict) else None
        raise LockFileError(path, f"format {found!r}, expected {FORMAT}")
    stages = raw.get("stages") or {}
    if not isinstance(stages, dict):
        raise LockFileError(path, "'stages' must be a mapping")
    entries: dict[str, LockEntry] = {}
    for name, body in stages.items():
        try:
            entries[str(name)] = LockEntry(**body)
        except TypeError as exc:
            raise LockFileError(path, f"stage '{name}': {exc}") from None
    return entries


def dumps(entries: Mapping[str, LockEntry]) -> str:
    body = {"format": FORMAT,
            "stages": {name: entries[name].to_dict() for name in sorted(entries)}}
    return HEADER + yaml.safe_dump(body, sort_keys=False, default_flow_style=False,
                                   allow_unicode=True, width=1000)


def write(path: Path, entries: Mapping[str, LockEntry]) -> None:
    """Replace the lock file with these entries (atomically)."""
    atomic_write_text(path, dumps(entries))

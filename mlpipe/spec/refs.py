"""Paths and references: `stage.output` in a kind's input fields becomes a path and a dep.

A value such as `ingest.train` in a field the kind lists in `inputs` names the output
`train` of stage `ingest`; the parser swaps in that output's path and adds it to the stage's
deps, which makes the DAG edge. Any other value is a path relative to the pipeline root.

Outputs must stay inside the root: `escaping_link` finds a symlink that would lead a write out
of it. The parser refuses such outputs at load time, and the executor checks again before it
clears or restores a stage's outputs, since an earlier stage may have made the link.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from mlpipe import kinds
from mlpipe.errors import SpecError, did_you_mean
from mlpipe.spec.model import StageSpec

ErrorAt = Callable[[str, str, str], SpecError]


def normalize(root: Path, raw: str) -> tuple[str, bool]:
    """(path relative to root in POSIX form, True), or (path, False) when it lies outside.

    A path outside the root stays relative (`../shared/raw.csv`) when it was written relative,
    so the stage key and the lock file are the same in every clone; one written absolute (or
    from `~`) stays absolute, as the pipeline file says.
    """
    expanded = os.path.expanduser(raw)
    full = os.path.normpath(os.path.join(root, expanded))
    rel = Path(os.path.relpath(full, root)).as_posix()
    if rel in (".", "..") or rel.startswith("../"):
        return (Path(full).as_posix() if os.path.isabs(expanded) else rel), False
    return rel, True


def path_problem(raw: str) -> str | None:
    """Why `raw` cannot name a file (a NUL byte, text the file system cannot encode), or None."""
    if "\0" in raw:
        return "holds a NUL character"
    try:
        os.fsencode(raw)
    except UnicodeEncodeError:
        return "holds characters no file name can"
    return None


def _within(real_root: str, real: str) -> bool:
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def escaping_link(root: Path, rel: str) -> tuple[str, str] | None:
    """(link, where it leads) for the first symlink in `rel` that resolves out of `root`.

    `rel` is a normalized path relative to `root`; None when following it stays inside.
    """
    parts = rel.split("/")
    full = str(root)
    for end, part in enumerate(parts, 1):
        full = os.path.join(full, part)
        try:
            mode = os.lstat(full).st_mode
        except OSError:  # not there (or not reachable): nothing to follow
            return None
        if stat.S_ISLNK(mode):
            target = os.path.realpath(full)
            if not _within(os.path.realpath(root), target):
                return "/".join(parts[:end]), target
    return None


def escaping_output(root: Path, outs: Iterable[str]) -> str | None:
    """Why one of `outs` cannot be written without leaving `root` through a symlink, or None."""
    for out in outs:
        found = escaping_link(root, out)
        if found:
            link, target = found
            return (f"output '{out}' leads out of the pipeline's root: {link} is a symlink "
                    f"to {target}")
    return None


def resolve(stages: Sequence[StageSpec], root: Path, error_at: ErrorAt) -> tuple[StageSpec, ...]:
    """Stages with their input fields turned into paths, and those paths added to deps."""
    named = {stage.name: stage.outputs for stage in stages}
    return tuple(_resolve_stage(stage, named, root, error_at) for stage in stages)


def _resolve_stage(stage: StageSpec, named: Mapping[str, Mapping[str, str]], root: Path,
                   error_at: ErrorAt) -> StageSpec:
    fields = kinds.get(stage.kind).inputs
    if not fields:
        return stage
    config: dict[str, Any] = dict(stage.config)
    deps = list(stage.deps)
    for field in fields:
        value = config.get(field)
        if value is None:
            continue
        items = value if isinstance(value, list) else [value]
        paths = [_one(stage, field, item, named, root, error_at) for item in items]
        config[field] = paths if isinstance(value, list) else paths[0]
        deps.extend(paths)
    return replace(stage, config=config, deps=tuple(dict.fromkeys(deps)))


def _one(stage: StageSpec, field: str, value: Any, named: Mapping[str, Mapping[str, str]],
         root: Path, error_at: ErrorAt) -> str:
    if not isinstance(value, str) or not value:
        raise error_at(stage.name, field, f"'{field}' must name an output (stage.output) or a path")
    problem = path_problem(value)
    if problem:
        raise error_at(stage.name, field, f"'{field}' {problem}")
    head, dot, tail = value.partition(".")
    if dot and "/" not in value and head in named:
        if head == stage.name:
            raise error_at(stage.name, field, f"'{field}' refers to the stage's own output")
        outputs = named[head]
        if tail not in outputs:
            known = ", ".join(outputs) or "none"
            raise error_at(stage.name, field, f"stage '{head}' has no output '{tail}'"
                           f"{did_you_mean(tail, outputs)}; its outputs: {known}")
        return outputs[tail]
    return normalize(root, value)[0]

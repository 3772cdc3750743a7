"""Bringing an experiment back: its params written where they are declared (the params file
or the pipeline file's `params:`), its lock file, and its outputs restored from the cache;
or the same committed on a new branch.

Params are changed in the text, value by value, so comments and layout stay; each edit is
checked by reading the file again, and a value that cannot be placed is an error, never a
silently different file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from mlpipe import api
from mlpipe.errors import UsageError
from mlpipe.spec import params as paramlib
from mlpipe.state.experiments import Experiment
from mlpipe.state.fsutil import atomic_write_text
from mlpipe.vcs import gitinfo


def _scalar_span(text: str, path: list[str]) -> tuple[int, int] | None:
    """Where the value at `path` (a scalar in nested block or flow mappings) is written."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    for part in path:
        if not isinstance(node, yaml.MappingNode):
            return None
        found = [value for key, value in node.value
                 if isinstance(key, yaml.ScalarNode) and key.value == part]
        if len(found) != 1:
            return None
        node = found[0]
    if not isinstance(node, yaml.ScalarNode):
        return None
    return node.start_mark.index, node.end_mark.index


def _render(value: Any) -> str:
    return json.dumps(value)  # JSON scalars are YAML scalars that read back as the same value


def set_values(text: str, values: Mapping[str, Any], prefix: tuple[str, ...], where: str
               ) -> str:
    """`text` with each dotted key (under `prefix`) set to its value.

    Raises:
        UsageError: A key whose value is not a plain scalar written once in the file.
    """
    for key, value in values.items():
        path = [*prefix, *key.split(".")]
        span = _scalar_span(text, path)
        if span is None:
            raise UsageError(f"{where}: cannot write param '{key}' (not a single plain value "
                             f"there); set it to {_render(value)} by hand")
        text = text[:span[0]] + _render(value) + text[span[1]:]
        check = paramlib.lookup(yaml.safe_load(text) or {}, ".".join(path))
        if check != value:
            raise UsageError(f"{where}: writing param '{key}' did not give {_render(value)}")
    return text


def write_params(pipeline_file: Path, overrides: Mapping[str, Any]) -> list[Path]:
    """Write the experiment's param values into the files that declare them; returns the
    files changed."""
    loaded = api.load(pipeline_file)
    spec = loaded.spec
    in_file: dict[str, Any] = {}
    inline: dict[str, Any] = {}
    params_path = spec.root / spec.params_file if spec.params_file else None
    from_file = yaml.safe_load(params_path.read_text("utf-8")) if params_path else None
    for key, value in overrides.items():
        if paramlib.lookup(spec.params, key) == value:
            continue
        if isinstance(from_file, Mapping) and paramlib.lookup(from_file, key) is not \
                paramlib.MISSING:
            in_file[key] = value
        else:
            inline[key] = value
    changed = []
    for path, values, prefix in ((params_path, in_file, ()),
                                 (pipeline_file, inline, ("params",))):
        if values and path is not None:
            atomic_write_text(path, set_values(path.read_text("utf-8"), values, prefix,
                                               str(path.name)))
            changed.append(path)
    return changed


def _check_pipeline(pipeline_file: Path, exp: Experiment) -> None:
    top = gitinfo.repo_root(pipeline_file.parent)
    if top is None:
        raise UsageError("experiments need a git repository")
    here = str(pipeline_file.resolve().relative_to(top.resolve()))
    if here != exp.pipeline:
        raise UsageError(f"experiment '{exp.name}' is of {exp.pipeline}, not {here}")


def apply(pipeline_file: Path, exp: Experiment) -> api.RunReport:
    """Params, lock file and outputs of `exp` in the work tree (outputs from the cache)."""
    pipeline_file = pipeline_file.absolute()
    _check_pipeline(pipeline_file, exp)
    write_params(pipeline_file, exp.overrides)
    if exp.lock:
        atomic_write_text(pipeline_file.with_suffix(".lock"), exp.lock)
    return api.run(pipeline_file)


def branch(pipeline_file: Path, exp: Experiment, name: str) -> str:
    """A new branch `name`: the experiment's base commit plus its files, params and lock.

    Returns:
        The new branch's commit.

    Raises:
        UsageError: The branch exists or its name is invalid.
    """
    pipeline_file = pipeline_file.absolute()
    _check_pipeline(pipeline_file, exp)
    top = gitinfo.repo_root(pipeline_file.parent)
    assert top is not None  # _check_pipeline found it
    with gitinfo.worktree(top, exp.base) as tree:
        if exp.tree != exp.base:
            gitinfo.checkout_files(tree, exp.tree)
        moved = tree / exp.pipeline
        write_params(moved, exp.overrides)
        if exp.lock:
            atomic_write_text(moved.with_suffix(".lock"), exp.lock)
        settings = ", ".join(f"{k}={_render(v)}" for k, v in sorted(exp.overrides.items()))
        commit = gitinfo.commit_all(tree, f"Experiment {exp.name}: {settings or 'as declared'}")
    try:
        gitinfo.create_branch(top, name, commit)
    except ValueError as exc:
        raise UsageError(f"branch {name!r}: {exc}") from None
    return commit

"""A pipeline's params and metrics as they were at a git revision, or as they are now.

At a revision, the pipeline file, its params file and its lock file are read from git; each
metrics file is read from the content store by the hash that revision's lock file records (so
metrics need not be committed), else from git when the file itself is committed.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlpipe.errors import MlpipeError, UsageError
from mlpipe.revisions.revs import commit_of
from mlpipe.spec.model import PipelineSpec
from mlpipe.spec.parse import load as load_spec
from mlpipe.spec.yamlio import load_file
from mlpipe.state import lockfile
from mlpipe.state.objects import ObjectStore
from mlpipe.state.workspace import Workspace
from mlpipe.vcs import gitinfo

WORKSPACE = "workspace"
Fetch = Callable[[Path, PipelineSpec, Mapping[str, str]], "str | None"]
"""Brings objects (digest -> where used) into the local cache; None, or why some did not."""


@dataclass(frozen=True)
class Snapshot:
    """What a pipeline declared and measured at one point.

    Attributes:
        label: The revision as given, or "workspace".
        commit: The commit sha (None for the work tree).
        params: Dotted param key -> value.
        metrics: Metrics file -> dotted metric -> value (files not found are absent).
        unavailable: One line per metrics file the lock file records that could not be read.
    """

    label: str
    commit: str | None
    params: dict[str, Any]
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    unavailable: tuple[str, ...] = ()


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys: {"a": {"b": 1}} -> {"a.b": 1}."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def _metrics_json(data: bytes | None) -> dict[str, Any] | None:
    if data is None:
        return None
    try:
        loaded = json.loads(data)
    except ValueError:
        return None
    return flatten(loaded) if isinstance(loaded, Mapping) else None


def workspace(pipeline_file: Path) -> Snapshot:
    """The work tree's params and metrics files."""
    spec = load_spec(pipeline_file)
    metrics = {}
    for path in _metric_paths(spec):
        file = spec.path.parent / path
        found = _metrics_json(file.read_bytes()) if file.is_file() else None
        if found is not None:
            metrics[path] = found
    return Snapshot(WORKSPACE, None, flatten(spec.params), metrics)


def at_rev(pipeline_file: Path, rev: str, fetch: Fetch | None = None) -> Snapshot:
    """Params and metrics at git revision `rev`.

    A metrics file is read from the local cache by the hash `rev`'s lock file records, else
    through `fetch` (from the remote by that hash), else from git when it is committed.

    Raises:
        UsageError: Not a git repository, an unknown revision, or no pipeline file there.
        SpecError: The pipeline file at that revision is invalid (named as `REV:path`).
    """
    pipeline_file = pipeline_file.absolute()
    commit = commit_of(pipeline_file.parent, rev)
    spec = spec_at(pipeline_file, rev, commit)
    outs = recorded_outs(lock_at(pipeline_file, commit, rev))
    store = ObjectStore(Workspace(pipeline_file).objects_dir)
    paths = _metric_paths(spec)
    absent = {outs[p]: f"{rev}: metrics {p}" for p in paths if p in outs and not store.has(outs[p])}
    why = fetch(pipeline_file, spec, absent) if fetch and absent else None
    metrics, unavailable = {}, []
    for path in paths:
        found = None
        digest = outs.get(path)
        if digest and store.has(digest):
            found = _metrics_json(store.path_of(digest).read_bytes())
        if found is None:
            found = _metrics_json(gitinfo.file_at_rev(
                pipeline_file.parent, commit, pipeline_file.parent / path))
        if found is not None:
            metrics[path] = found
        elif digest:
            unavailable.append(f"{path} at {rev}: recorded in its lock file but not in the "
                               f"cache ({why or 'not fetched'}); try `mlpipe pull --rev {rev}`")
    return Snapshot(rev, commit, flatten(spec.params), metrics, tuple(unavailable))


def snapshot(pipeline_file: Path, rev: str | None, fetch: Fetch | None = None) -> Snapshot:
    """`at_rev`, or `workspace` when `rev` is None."""
    return workspace(pipeline_file) if rev is None else at_rev(pipeline_file, rev, fetch)


def recorded_outs(lock: Mapping[str, lockfile.LockEntry]) -> dict[str, str]:
    """Output path -> hash, over every stage of a lock file."""
    return {path: digest for entry in lock.values() for path, digest in entry.outs.items()
            if digest}


def _metric_paths(spec: PipelineSpec) -> list[str]:
    return sorted({path for stage in spec.stages for path in stage.metrics})


def spec_at(pipeline_file: Path, rev: str, commit: str | None = None) -> PipelineSpec:
    """Parse the pipeline file at `rev` (the sha `commit` when known), with its params file,
    from a scratch copy."""
    root = pipeline_file.parent
    commit = commit or commit_of(root, rev)
    text = gitinfo.file_at_rev(root, commit, pipeline_file)
    if text is None:
        raise UsageError(f"{rev}:{pipeline_file.name}: no pipeline file at that revision")
    with tempfile.TemporaryDirectory(prefix="mlpipe-rev-") as scratch:
        copy = Path(scratch) / pipeline_file.name
        copy.write_bytes(text)
        try:
            raw = load_file(copy)
            params_file = raw.get("params_file") if isinstance(raw, Mapping) else None
            if isinstance(params_file, str):
                params_text = gitinfo.file_at_rev(root, commit, root / params_file)
                if params_text is not None:
                    target = Path(scratch) / params_file
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(params_text)
            return load_spec(copy)
        except MlpipeError as exc:
            raise UsageError(f"{rev}:{str(exc).replace(str(copy), pipeline_file.name)}") from None


def lock_at(pipeline_file: Path, commit: str, rev: str) -> dict[str, lockfile.LockEntry]:
    """The lock file's entries at `commit` (named `rev`); empty when none was committed.

    Raises:
        UsageError: The lock file there cannot be read.
    """
    text = gitinfo.file_at_rev(pipeline_file.parent, commit, pipeline_file.with_suffix(".lock"))
    if text is None:
        return {}
    with tempfile.TemporaryDirectory(prefix="mlpipe-rev-") as scratch:
        copy = Path(scratch) / "mlpipe.lock"
        copy.write_bytes(text)
        try:
            return dict(lockfile.read(copy))
        except MlpipeError as exc:
            raise UsageError(f"{rev}: lock file: {exc}") from None

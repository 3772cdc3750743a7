"""Where an evaluate stage's baseline metrics come from: the registry, or a file at a git rev.

Two forms of `baseline`:

- `{model: NAME, alias: champion}`: the metrics recorded with the version that holds the
  alias in the pipeline's model registry (`.mlpipe/registry.db`);
- `{rev: main, metrics: path/to/metrics.json}`: a metrics file as committed at a git revision.

Either may find nothing (no champion yet, no such file at that revision); then the baseline's
metrics are None and gates against `baseline.<metric>` pass, with "no baseline" in the report.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlpipe.vcs import gitinfo

DEFAULT_ALIAS = "champion"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
USAGE = ("'baseline' needs either 'model' (a registered model name) with an optional 'alias' "
         f"(default {DEFAULT_ALIAS}), or 'rev' (a git revision) with 'metrics' (a metrics file "
         "at that revision)")


def check(spec: Any) -> str | None:
    """A problem with a `baseline` mapping, or None when it can work.

    Args:
        spec: The stage's `baseline` value (None for no baseline).

    Returns:
        A one-line problem, or None.
    """
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        return USAGE
    keys = set(spec)
    if keys <= {"model", "alias"} and "model" in keys:
        for field in ("model", "alias"):
            value = spec.get(field, DEFAULT_ALIAS)
            if not isinstance(value, str) or not _NAME.match(value):
                return f"baseline {field} {value!r}: use letters, digits, '_', '-' or '.'"
        return None
    if keys == {"rev", "metrics"} and all(isinstance(spec[k], str) and spec[k] for k in keys):
        return None
    return USAGE


def from_registry(spec: Mapping[str, Any]) -> bool:
    """Whether the baseline is a registry alias (which moves without any file changing)."""
    return isinstance(spec, Mapping) and "model" in spec


def describe(spec: Mapping[str, Any]) -> str:
    """A short name of the baseline, e.g. `iris@champion` or `main:out/metrics.json`."""
    if from_registry(spec):
        return f"{spec['model']}@{spec.get('alias', DEFAULT_ALIAS)}"
    return f"{spec['rev']}:{spec['metrics']}"


def load(root: Path, spec: Mapping[str, Any]) -> dict[str, float] | None:
    """The baseline's metrics, or None when there is none (yet).

    Args:
        root: The pipeline root (registry under `root/.mlpipe`; files relative to it).
        spec: A `baseline` mapping that passed `check`.

    Returns:
        The metrics, or None.
    """
    if from_registry(spec):
        from mlpipe.models.registry import Registry, RegistryError

        try:
            metrics = Registry(root / ".mlpipe").get(describe(spec)).metrics
        except RegistryError:
            return None
        return dict(metrics) if isinstance(metrics, Mapping) else None
    data = gitinfo.file_at_rev(root, str(spec["rev"]), root / str(spec["metrics"]))
    if data is None:
        return None
    try:
        loaded = json.loads(data)
    except ValueError:
        return None
    return loaded if isinstance(loaded, dict) else None

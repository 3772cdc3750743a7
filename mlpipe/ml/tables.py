"""Facts about tables that several ML kinds share: task, schema, target, library versions."""

from __future__ import annotations

import platform
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpipe.errors import StageFailed
from mlpipe.ml.dataio import DataError, read_json

if TYPE_CHECKING:
    import pandas as pd

MAX_CLASSES = 20  # an integer or text target with at most this many values is a class label


def library_versions(*names: str) -> dict[str, str]:
    """Installed versions of distributions (no import), e.g. {"scikit-learn": "1.5.2"}."""
    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "absent"
    return found


def infer_task(target: pd.Series) -> str:
    """"classification" for text, booleans or few integer values; "regression" otherwise."""
    import pandas as pd

    if pd.api.types.is_float_dtype(target):
        values = target.dropna()
        few = values.nunique() <= MAX_CLASSES and bool((values == values.round()).all())
        return "classification" if few and values.nunique() <= 2 else "regression"
    if pd.api.types.is_integer_dtype(target) and target.nunique() > MAX_CLASSES:
        return "regression"
    return "classification"


def schema_of(frame: pd.DataFrame, target: str, task: str) -> dict[str, Any]:
    """The `schema` output of ingest."""
    return {"columns": [{"name": str(c), "dtype": str(t)} for c, t in frame.dtypes.items()],
            "rows": len(frame), "target": target, "task": task}


def target_and_task(root: Path, stage: str, config: Mapping[str, Any]) -> tuple[str, str | None]:
    """The target column and task: from the stage's fields, else from its `schema` input."""
    target, task = config.get("target"), config.get("task")
    if config.get("schema"):
        try:
            schema = read_json(root / config["schema"])
        except DataError as exc:
            raise StageFailed(stage, str(exc)) from None
        target = target or schema.get("target")
        task = task or schema.get("task")
    if not target:
        raise StageFailed(stage, "no target: set 'target' or 'schema: <ingest stage>.schema'")
    return str(target), task


def split_xy(frame: pd.DataFrame, target: str, stage: str, source: str
             ) -> tuple[pd.DataFrame, pd.Series]:
    """Features and target of a table; a missing target column fails the stage."""
    if target not in frame.columns:
        raise StageFailed(stage, f"{source}: no target column '{target}'")
    return frame.drop(columns=[target]), frame[target]

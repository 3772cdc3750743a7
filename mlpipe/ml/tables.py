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

# A numeric target of whole numbers with at most this many distinct values is a class label,
# whether stored as integers or floats; more (counts 0..15, say) is a quantity to regress.
MAX_CLASSES = 10


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
    """"classification" for text, booleans or a few whole-number values; else "regression".

    Integers and floats are read alike: 0, 1, 2 is three classes either way, and a count
    with more than MAX_CLASSES values is regressed either way. Declare `task:` to decide.
    """
    import pandas as pd

    if pd.api.types.is_bool_dtype(target) or not pd.api.types.is_numeric_dtype(target):
        return "classification"
    values = target.dropna()
    whole = bool((values == values.round()).all()) if len(values) else True
    return "classification" if whole and values.nunique() <= MAX_CLASSES else "regression"


def target_problem(value: object) -> str | None:
    """Why a `target` field cannot be used (one column name is), or None."""
    if value is None or (isinstance(value, str) and value):
        return None
    if isinstance(value, list):
        return ("'target' must name one column; multi-output targets (a list of columns) "
                "are not supported: train one stage per target")
    return f"'target' must be a column name, not {value!r}"


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

"""Predictions of a fitted model as plain Python values (what JSON and Parquet can hold).

This module imports nothing from mlpipe, so bundles can ship it as is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


class PredictionError(ValueError):
    """The model raised while predicting; the message is its first line."""


def _plain(value: Any) -> Any:
    """A JSON-safe scalar: numpy scalars unwrapped, NaN and infinities as None."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _plain_list(values: Any) -> list[Any]:
    """JSON-safe values of an array: numpy's own conversion, then NaN/infinities as None."""
    items = values.tolist() if hasattr(values, "tolist") else list(values)
    if any(isinstance(v, float) and not math.isfinite(v) for v in items):
        return [_plain(v) for v in items]
    return [v.item() if hasattr(v, "item") else v for v in items]


def is_classifier(model: Any, meta: Mapping[str, Any]) -> bool:
    """Whether the model answers with class probabilities too."""
    return meta.get("task") == "classification" and hasattr(model, "predict_proba")


def predict(model: Any, meta: Mapping[str, Any], frame: pd.DataFrame,
            probabilities: bool = True) -> dict[str, Any]:
    """Predict every row of `frame`.

    Args:
        model: A fitted estimator or Pipeline taking the raw feature columns.
        meta: The model's metadata (`task` decides whether probabilities can be given).
        frame: The rows, with the model's feature columns.
        probabilities: Whether to compute class probabilities too (classifiers only).

    Returns:
        {"predictions": [...]} and, for classifiers when asked, "classes" and
        "probabilities" (one {class: probability} object per row).

    Raises:
        PredictionError: The model failed on these rows.
    """
    try:
        result: dict[str, Any] = {"predictions": _plain_list(model.predict(frame))}
        if probabilities and is_classifier(model, meta):
            classes = [_plain(c) for c in model.classes_]
            proba = model.predict_proba(frame)
            result["classes"] = classes
            result["probabilities"] = [
                {str(c): _plain(p) for c, p in zip(classes, row, strict=True)} for row in proba
            ]
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise PredictionError(f"the model could not predict these rows: {first[:300]}") from None
    return result

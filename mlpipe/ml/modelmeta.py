"""The model-meta of a model file that mlpipe's `train` kind did not write.

A command stage's own script may save a model with joblib or pickle (a scikit-learn
estimator or Pipeline, or any object with `predict`). Registering it needs what `train`
writes as `model_meta`: the signature (features and their dtypes, target, task, classes)
and how the model was made. This module builds that from the model itself and either a
sample of the data it takes (`data:`, the target column left out) or a signature declared
in YAML (`signature: {features: [{name, dtype}], target, task}`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlpipe.models.registry import RegistryError
from mlpipe.state.hashing import hash_file

SAMPLE_ROWS = 1000
SIGNATURE_KEYS = ("features", "target", "task")


def infer(model_file: Path, data: Path | None = None, target: str | None = None,
          signature: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The model-meta of `model_file` (see the module docstring).

    Args:
        model_file: A joblib or pickle file.
        data: A table (CSV, Parquet, JSON lines) with the model's input columns.
        target: The column of `data` the model predicts (left out of the features).
        signature: Declared instead of `data`.

    Raises:
        RegistryError: The file is not a model, or neither `data` nor `signature` gives
            its features (one line naming the file or the field).
    """
    model = _load(model_file)
    if signature is not None:
        features, task, target = _declared(signature, target)
        rows, data_hash = None, None
    elif data is not None:
        features, rows = _sampled(data, target)
        task, data_hash = None, hash_file(data)
    else:
        raise RegistryError(f"{model_file}: give data: (a sample of its input) or signature: "
                            "(its features) to register a model without model_meta")
    classes = getattr(model, "classes_", None)
    task = task or ("classification" if classes is not None else "regression")
    from mlpipe.ml.tables import library_versions

    return {
        "task": task, "target": target,
        "classes": [_plain(c) for c in classes] if classes is not None else None,
        "features": features,
        "estimator": f"{type(model).__module__}.{type(model).__qualname__}",
        "params": _params(model), "seed": None,
        "training_data_hash": data_hash, "rows": rows,
        "library_versions": library_versions("scikit-learn", "pandas", "numpy", "joblib"),
    }


def _load(model_file: Path) -> Any:
    import joblib  # reads plain pickle files too

    try:
        model = joblib.load(model_file)
    except FileNotFoundError:
        raise RegistryError(f"model file {model_file} does not exist") from None
    except Exception as exc:  # unpickling raises whatever the pickled code raises
        raise RegistryError(f"{model_file}: not a joblib or pickle model file "
                            f"({type(exc).__name__}: {exc})") from None
    if not callable(getattr(model, "predict", None)):
        raise RegistryError(f"{model_file}: holds a {type(model).__name__}, which has no "
                            "predict(); only objects with predict can be registered")
    return model


def _declared(signature: Mapping[str, Any], target: str | None
              ) -> tuple[list[dict[str, str]], str | None, str | None]:
    unknown = sorted(set(signature) - set(SIGNATURE_KEYS))
    if unknown:
        raise RegistryError(f"signature: unknown key '{unknown[0]}' (known: "
                            f"{', '.join(SIGNATURE_KEYS)})")
    features = signature.get("features")
    if not isinstance(features, list) or not features or not all(
            isinstance(f, Mapping) and isinstance(f.get("name"), str)
            and isinstance(f.get("dtype"), str) for f in features):
        raise RegistryError("signature: features must be a list of {name, dtype}")
    task = signature.get("task")
    if task not in (None, "classification", "regression"):
        raise RegistryError(f"signature: task must be classification or regression, not {task!r}")
    return ([{"name": f["name"], "dtype": f["dtype"]} for f in features], task,
            signature.get("target", target))


def _sampled(data: Path, target: str | None) -> tuple[list[dict[str, str]], int]:
    from mlpipe.ml.dataio import DataError, read_table

    try:
        frame = read_table(data).head(SAMPLE_ROWS)
    except DataError as exc:
        raise RegistryError(str(exc)) from None
    if target is not None and target not in frame.columns:
        raise RegistryError(f"{data}: no column '{target}' (the target:)")
    inputs = frame.drop(columns=[target]) if target is not None else frame
    return [{"name": str(c), "dtype": str(t)} for c, t in inputs.dtypes.items()], len(frame)


def _params(model: Any) -> dict[str, Any]:
    """The estimator's own parameters that are plain values (nested estimators left out)."""
    get = getattr(model, "get_params", None)
    if not callable(get):
        return {}
    try:
        params = get(deep=False)
    except Exception:  # a custom object's get_params may need arguments or fail
        return {}
    return {str(k): v for k, v in sorted(params.items())
            if v is None or isinstance(v, bool | int | float | str)}


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value

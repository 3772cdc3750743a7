"""MLflow model directories, both ways, without importing mlflow.

`write_model_dir` writes what `mlflow.sklearn.save_model` writes for a pickled scikit-learn
model: `MLmodel` (python_function and sklearn flavors, the signature, the input example),
`model.pkl`, `requirements.txt` pinning the installed versions, `python_env.yaml`,
`conda.yaml`, `input_example.json` and `serving_input_example.json`. So
`mlflow.pyfunc.load_model` loads it and `mlflow models serve` serves it.

`read_model_dir` takes such a directory back (sklearn flavor in skops, pickle or cloudpickle
format, with a column signature) as a model object and mlpipe's model metadata. skops loads
only the types the MLmodel file trusts; unpickling runs code: import pickled models only from
directories you trust, as with MLflow itself.
"""

from __future__ import annotations

import json
import pickle
import platform
import shutil
import tempfile
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from mlpipe.errors import UsageError
from mlpipe.models.requirements import pinned
from mlpipe.state.fsutil import replace_tree

MODEL_FILE = "model.pkl"
REQUIREMENTS = ("mlflow", "scikit-learn", "numpy", "pandas", "scipy", "cloudpickle")
# pandas dtype (as mlpipe's signature writes it) -> MLflow column type, and back
_TO_MLFLOW = {"float64": "double", "float32": "float", "int64": "long", "int32": "integer",
              "int16": "integer", "int8": "integer", "bool": "boolean", "object": "string",
              "str": "string", "string": "string", "category": "string"}
_FROM_MLFLOW = {"double": "float64", "float": "float32", "long": "int64", "integer": "int32",
                "boolean": "bool", "string": "object", "datetime": "datetime64[ns]",
                "binary": "object"}
_EXAMPLE = {"double": 0.0, "float": 0.0, "long": 0, "integer": 0, "boolean": False,
            "string": ""}


class MlflowFormatError(UsageError):
    """A directory is not an MLflow model mlpipe can take, or a model cannot be exported."""


def _column_type(dtype: str) -> str:
    text = dtype.lower()
    if text in _TO_MLFLOW:
        return _TO_MLFLOW[text]
    if text.startswith("uint"):
        return "long"
    raise MlflowFormatError(f"feature dtype {dtype!r} has no MLflow column type")


def signature(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The MLmodel `signature` block of a model with mlpipe's metadata."""
    inputs = [{"type": _column_type(str(f.get("dtype", ""))), "name": str(f["name"]),
               "required": True} for f in meta.get("features") or []]
    classes = meta.get("classes") or []
    if meta.get("task") == "classification" and classes and all(
            isinstance(c, str) for c in classes):
        outputs: list[dict[str, Any]] = [{"type": "string", "required": True}]
    else:
        integral = meta.get("task") == "classification" and all(
            isinstance(c, int) and not isinstance(c, bool) for c in classes)
        outputs = [{"type": "tensor", "tensor-spec": {
            "dtype": "int64" if integral else "float64", "shape": [-1]}}]
    return {"inputs": json.dumps(inputs), "outputs": json.dumps(outputs), "params": None}


def example_record(meta: Mapping[str, Any]) -> dict[str, Any]:
    """One record of typed placeholder values (0, 0.0, False, "") for the input example."""
    return {str(f["name"]): _EXAMPLE[_column_type(str(f.get("dtype", "")))]
            for f in meta.get("features") or []}


def _pinned() -> str:
    return pinned(REQUIREMENTS)


def _mlmodel(meta: Mapping[str, Any], size: int, sklearn_version: str) -> dict[str, Any]:
    python = platform.python_version()
    return {
        "flavors": {
            "python_function": {"env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
                                "loader_module": "mlflow.sklearn", "model_path": MODEL_FILE,
                                "predict_fn": "predict", "python_version": python},
            "sklearn": {"code": None, "pickled_model": MODEL_FILE,
                        "serialization_format": "pickle", "sklearn_version": sklearn_version}},
        "model_size_bytes": size,
        "model_uuid": uuid.uuid4().hex,
        "saved_input_example_info": {"artifact_path": "input_example.json",
                                     "pandas_orient": "split",
                                     "serving_input_path": "serving_input_example.json",
                                     "type": "dataframe"},
        "signature": signature(meta),
        "utc_time_created": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
    }


def write_model_dir(dest: Path, model: Any, meta: Mapping[str, Any]) -> None:
    """Write `model` as an MLflow model directory `dest` (built beside it, swapped in whole).

    Args:
        dest: The directory to (re)create.
        model: The fitted scikit-learn model.
        meta: Its mlpipe metadata (features with dtypes, task, classes).

    Raises:
        MlflowFormatError: A feature's dtype has no MLflow column type, or the model does not
            predict its own input example.
    """
    import pandas as pd
    import yaml

    record = example_record(meta)
    try:
        model.predict(pd.DataFrame([record]))
    except Exception as exc:
        raise MlflowFormatError(f"the model cannot predict a placeholder example row "
                                f"({type(exc).__name__}: {str(exc)[:200]})") from None
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        data = pickle.dumps(model, protocol=pickle.DEFAULT_PROTOCOL)
        (tmp / MODEL_FILE).write_bytes(data)
        sklearn_version = version("scikit-learn")
        (tmp / "MLmodel").write_text(yaml.safe_dump(_mlmodel(meta, len(data), sklearn_version),
                                                    sort_keys=True), encoding="utf-8")
        (tmp / "requirements.txt").write_text(_pinned(), encoding="utf-8")
        python = platform.python_version()
        (tmp / "python_env.yaml").write_text(yaml.safe_dump({
            "python": python, "build_dependencies": ["pip", "setuptools", "wheel"],
            "dependencies": ["-r requirements.txt"]}, sort_keys=False), encoding="utf-8")
        (tmp / "conda.yaml").write_text(yaml.safe_dump({
            "name": "mlflow-env", "channels": ["conda-forge"],
            "dependencies": [f"python={python}", "pip",
                             {"pip": _pinned().split()}]}, sort_keys=False), encoding="utf-8")
        columns = list(record)
        split = {"columns": columns, "data": [[record[c] for c in columns]]}
        (tmp / "input_example.json").write_text(json.dumps(split), encoding="utf-8")
        (tmp / "serving_input_example.json").write_text(
            json.dumps({"dataframe_split": split}, indent=2), encoding="utf-8")
        tmp.chmod(0o755)
        replace_tree(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _read_mlmodel(directory: Path) -> dict[str, Any]:
    import yaml

    path = directory / "MLmodel"
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MlflowFormatError(f"{directory} is not an MLflow model directory (no MLmodel "
                                f"file)") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise MlflowFormatError(f"{path} cannot be read: {str(exc).splitlines()[0]}") from None
    if not isinstance(loaded, dict) or not isinstance(loaded.get("flavors"), dict):
        raise MlflowFormatError(f"{path} has no 'flavors' mapping")
    return loaded


def _features(mlmodel: Mapping[str, Any], path: Path) -> list[dict[str, str]]:
    inputs = (mlmodel.get("signature") or {}).get("inputs")
    if not inputs:
        raise MlflowFormatError(f"{path} has no input signature: mlpipe needs the model's "
                                f"input columns (save it with a signature)")
    try:
        columns = json.loads(inputs)
    except (TypeError, json.JSONDecodeError):
        raise MlflowFormatError(f"{path}: the input signature is not valid JSON") from None
    if not isinstance(columns, list) or not all(
            isinstance(c, dict) and isinstance(c.get("name"), str) for c in columns):
        raise MlflowFormatError(f"{path}: the input signature is not a list of named columns "
                                f"(tensor signatures are not supported)")
    features = []
    for column in columns:
        kind = column.get("type")
        if kind not in _FROM_MLFLOW:
            raise MlflowFormatError(f"{path}: column {column['name']!r} has type {kind!r}, "
                                    f"which mlpipe cannot check")
        features.append({"name": column["name"], "dtype": _FROM_MLFLOW[kind]})
    return features


def _load(model_file: Path, fmt: str, trusted: Any) -> Any:
    """The model in `model_file`: skops loads only the types MLmodel trusts; pickle runs code
    (the user chose to trust this directory)."""
    try:
        if fmt == "skops":
            try:
                import skops.io
            except ImportError:
                raise MlflowFormatError(f"{model_file} is in skops format: install skops "
                                        f"(pip install skops) to import it") from None
            return skops.io.load(model_file, trusted=trusted)
        with model_file.open("rb") as handle:
            return pickle.load(handle)
    except MlflowFormatError:
        raise
    except Exception as exc:  # unpickling and skops raise many unrelated types
        raise MlflowFormatError(f"{model_file} cannot be loaded: {type(exc).__name__}: "
                                f"{str(exc).splitlines()[0][:200] if str(exc) else ''}"
                                ) from None


def read_model_dir(directory: Path) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """The model, its mlpipe metadata and its provenance from an MLflow model directory.

    Args:
        directory: A directory holding `MLmodel` with an sklearn flavor.

    Returns:
        (fitted model, meta {"task", "target", "classes", "features", ...}, lineage).

    Raises:
        MlflowFormatError: No MLmodel, no sklearn flavor, a format other than skops, pickle
            or cloudpickle, no column signature, or a model file that cannot be loaded.
    """
    mlmodel = _read_mlmodel(directory)
    path = directory / "MLmodel"
    flavor = mlmodel["flavors"].get("sklearn")
    if not isinstance(flavor, dict):
        raise MlflowFormatError(f"{path} has no sklearn flavor (flavors: "
                                f"{', '.join(map(str, mlmodel['flavors']))}); mlpipe imports "
                                f"scikit-learn models")
    fmt = flavor.get("serialization_format", "cloudpickle")
    if fmt not in ("pickle", "cloudpickle", "skops"):
        raise MlflowFormatError(f"{path}: serialization format {fmt!r} is not supported "
                                f"(pickle, cloudpickle or skops)")
    features = _features(mlmodel, path)
    model_file = directory / str(flavor.get("pickled_model", MODEL_FILE))
    if model_file.resolve().parent != directory.resolve():
        raise MlflowFormatError(f"{path}: pickled_model must name a file in {directory}")
    model = _load(model_file, fmt, flavor.get("skops_trusted_types"))
    if not hasattr(model, "predict"):
        raise MlflowFormatError(f"{model_file} holds a {type(model).__name__}, not a model")
    classes = getattr(model, "classes_", None)
    classifier = classes is not None and hasattr(model, "predict_proba")
    meta = {"task": "classification" if classifier else "regression", "target": None,
            "classes": classes.tolist() if classifier and classes is not None else None,
            "features": features,
            "estimator": f"{type(model).__module__}.{type(model).__name__}"}
    lineage = {"imported_from": "mlflow", "model_uuid": mlmodel.get("model_uuid"),
               "run_id": mlmodel.get("run_id"),
               "mlflow_version": mlmodel.get("mlflow_version"),
               "utc_time_created": mlmodel.get("utc_time_created")}
    return model, meta, lineage

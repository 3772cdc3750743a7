"""Models in and out of the registry in MLflow's format (`mlpipe models export|import`)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from mlpipe.errors import UsageError
from mlpipe.state.workspace import Workspace

FORMATS = ("mlflow",)


def export_model(pipeline_file: Path, ref: str, fmt: str, dest: Path) -> str:
    """Write the registered version `ref` names as a model directory of format `fmt`.

    The model file's bytes are checked against the registry's digest before they are loaded;
    a version whose evaluation gates failed is refused, as for `serve` and `deploy`.

    Args:
        pipeline_file: The pipeline file whose registry holds the model.
        ref: `name`, `name@alias` or `name:version`.
        fmt: One of `FORMATS`.
        dest: The directory to write (replaced whole if it exists).

    Returns:
        The exported version's reference (`name:version`).

    Raises:
        UsageError: Unknown format or reference, failed gates, a tampered model file, or a
            model the format cannot describe.
    """
    from mlpipe.models.mlflow_format import write_model_dir
    from mlpipe.models.registry import Registry
    from mlpipe.serving.deployments import DeploymentError, deployable
    from mlpipe.serving.modelfile import load_bytes

    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    registry = Registry(Workspace.for_file(pipeline_file).state_dir)
    try:
        version, model_bytes = deployable(registry, ref)
    except DeploymentError as exc:
        raise UsageError(str(exc)) from None
    write_model_dir(dest, load_bytes(model_bytes), version.meta)
    return version.ref


def import_model(pipeline_file: Path, directory: Path, name: str) -> tuple[str, bool]:
    """Register the scikit-learn model of an MLflow model directory as the next version of
    `name` (stored as joblib, with the signature as its features).

    Args:
        pipeline_file: The pipeline file whose registry takes the model.
        directory: An MLflow model directory (with `MLmodel`).
        name: The registered model's name.

    Returns:
        (the version's reference, whether it is new: False when `name` held it already).

    Raises:
        UsageError: Not a directory mlpipe can import (see `mlflow_format.read_model_dir`),
            or an invalid name.
    """
    import joblib

    from mlpipe.models.mlflow_format import read_model_dir
    from mlpipe.models.registry import Registry, check_name

    check_name("model", name)
    if not directory.is_dir():
        raise UsageError(f"{directory} is not a directory")
    model, meta, lineage = read_model_dir(directory)
    registry = Registry(Workspace.for_file(pipeline_file).state_dir)
    before = {(v.name, v.version) for v in registry.list()}
    with tempfile.TemporaryDirectory(prefix="mlpipe-import-") as tmp:
        model_file = Path(tmp) / "model.joblib"
        joblib.dump(model, model_file)
        version = registry.register(name, model_file, meta, {}, lineage, gates_passed=True)
    return version.ref, (version.name, version.version) not in before

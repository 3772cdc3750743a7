"""The `deploy` kind: put a registered model where it is used.

The model is `model` (a registry reference: `iris`, `iris@champion`, `iris:2`) or `entry`
(a register stage's entry file, e.g. `register.entry`, which also makes the DAG edge). A
version whose evaluation gates failed is refused, and the model file is read once, from the
registry's store, and used only after those bytes match the version's digest. Targets:

- `server`: records the deployment (output `deployment` and
  `<root>/.mlpipe/deployments/<stage>.json`) for `mlpipe serve --deployment` and
  `mlpipe deploy status`. It runs every time: the record lives outside the stage's outputs.
- `batch`: predicts every row of the table `data`; output `predictions` (Parquet) holds the
  input rows plus `prediction` and, for classifiers, `proba_<class>` per class.
- `bundle`: output `bundle`, a directory that serves the model without mlpipe (see
  `mlpipe.serving.bundle`).

A `model` reference that is not pinned (`name` or `name@alias`) makes the stage run every
time too, since the registry may have moved it.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

from mlpipe.errors import StageFailed
from mlpipe.kinds.plugin import ConfigProblem, StageContext, StageKind, StageResult, output_path
from mlpipe.ml.dataio import DataError, read_table, write_json, write_table
from mlpipe.models.registry import ModelVersion, Registry, RegistryError, parse_ref
from mlpipe.serving.deployments import DeploymentError, deployable, model_info, model_ref
from mlpipe.serving.deployments import write_record as write_deployment_record

TARGETS = ("server", "batch", "bundle")


def _check_port(config: Mapping[str, Any]) -> None:
    port = config.get("port")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigProblem("port", f"'port' must be an integer from 1 to 65535, not {port!r}")
    if not isinstance(config.get("host"), str) or not config["host"]:
        raise ConfigProblem("host", "'host' must be a non-empty string")


def _library_version(name: str) -> str:
    try:
        return package_version(name)
    except PackageNotFoundError:
        return "absent"


class DeployKind(StageKind):
    """Deploys the model `model`/`entry` names to `target` (server, batch or bundle)."""

    name = "deploy"
    version = "1"
    required = ("target",)
    optional = {"model": None, "entry": None, "data": None, "host": "127.0.0.1", "port": 8000}
    inputs = ("entry", "data")

    def check(self, config: Mapping[str, Any]) -> None:
        target = config.get("target")
        if target not in TARGETS:
            raise ConfigProblem("target", f"'target' must be one of {', '.join(TARGETS)}, "
                                          f"not {target!r}")
        if (config.get("model") is None) == (config.get("entry") is None):
            raise ConfigProblem("model", "give exactly one of 'model' (a registry reference "
                                         "such as iris@champion) and 'entry' (register.entry)")
        if config.get("model") is not None:
            if not isinstance(config["model"], str):
                raise ConfigProblem("model", "'model' must be a string such as iris@champion")
            try:
                parse_ref(config["model"])
            except RegistryError as exc:
                raise ConfigProblem("model", str(exc)) from None
        if target == "batch" and config.get("data") is None:
            raise ConfigProblem("data", "target 'batch' needs 'data' (a table to predict)")
        if target != "batch" and config.get("data") is not None:
            raise ConfigProblem("data", f"'data' is only for target 'batch', not '{target}'")
        if target == "server":
            _check_port(config)

    def outputs(self, stage: str, config: Mapping[str, Any]) -> dict[str, str]:
        target = config.get("target")
        if target == "batch":
            return {"predictions": output_path(stage, "predictions.parquet")}
        if target == "bundle":
            return {"bundle": output_path(stage, "bundle")}
        return {"deployment": output_path(stage, "deployment.json")}

    def needs_project(self, config: Mapping[str, Any]) -> bool:
        """Models come from the project's registry; server records go under `.mlpipe/`."""
        return True

    def always_run(self, config: Mapping[str, Any]) -> bool:
        """Server records live outside the outputs; unpinned references may move."""
        ref = config.get("model")
        return config.get("target") == "server" or (isinstance(ref, str) and ":" not in ref)

    def display(self, config: Mapping[str, Any]) -> str | None:
        return f"deploy {config.get('model') or 'entry'} -> {config.get('target')}"

    def versions(self) -> dict[str, str]:
        libraries = ("scikit-learn", "pandas", "numpy", "joblib")
        return {**super().versions(), **{lib: _library_version(lib) for lib in libraries}}

    def run(self, ctx: StageContext) -> StageResult:
        stage, config = ctx.stage.name, ctx.stage.config
        try:
            ref = model_ref(config, ctx.root)
            version, model_bytes = deployable(Registry(ctx.state), ref)
        except DeploymentError as exc:
            raise StageFailed(stage, str(exc)) from None
        target = config["target"]
        if target == "server":
            self._server(ctx, version)
        elif target == "batch":
            rows = self._batch(ctx, version, model_bytes)
            return StageResult(summary=f"predicted {rows} rows with {version.ref}")
        else:
            from mlpipe.serving.bundle import write_bundle

            write_bundle(ctx.root / ctx.stage.outputs["bundle"], model_bytes, version.meta,
                         model_info(version))
        return StageResult(summary=f"{version.ref} -> {target}")

    def _server(self, ctx: StageContext, version: ModelVersion) -> None:
        config = ctx.stage.config
        deployment = {"name": version.name, "version": version.version,
                      "digest": version.digest, "target": "server", "host": config["host"],
                      "port": config["port"]}
        write_json(deployment, ctx.root / ctx.stage.outputs["deployment"])
        write_deployment_record(ctx.state, ctx.stage.name, deployment)

    def _batch(self, ctx: StageContext, version: ModelVersion, model_bytes: bytes) -> int:
        """Predict the `data` table and write `predictions`; returns the number of rows.

        `model_bytes` are the verified bytes `deployable` read (never the file again).
        """
        from mlpipe.serving.modelfile import load_bytes
        from mlpipe.serving.predict import PredictionError, predict

        stage, config = ctx.stage.name, ctx.stage.config
        try:
            frame = read_table(ctx.root / config["data"])
        except DataError as exc:
            raise StageFailed(stage, str(exc)) from None
        features = [f["name"] for f in version.meta.get("features") or []]
        missing = [name for name in features if name not in frame.columns]
        if missing:
            raise StageFailed(stage, f"{config['data']} lacks the model's column(s) "
                                     f"{', '.join(repr(m) for m in missing)}")
        try:
            result = predict(load_bytes(model_bytes), version.meta, frame[features])
        except PredictionError as exc:
            raise StageFailed(stage, f"{version.ref}: {exc}") from None
        out = frame.copy()
        new = {"prediction": result["predictions"]}
        for cls in result.get("classes", []):
            new[f"proba_{cls}"] = [row[str(cls)] for row in result["probabilities"]]
        clash = [name for name in new if name in out.columns]
        if clash:
            raise StageFailed(stage, f"{config['data']} already has column '{clash[0]}', "
                                     "which the predictions would overwrite")
        for name, values in new.items():
            out[name] = values
        write_table(out, ctx.root / ctx.stage.outputs["predictions"])
        return len(out)

"""The `evaluate` kind: score a model on held-out data, per slice, and apply gates.

Outputs: `metrics` (flat JSON, recorded in the run history), `report` (metrics, slices,
gates, baseline) and `plots` (PNG files). A failed gate writes every output, then fails the
stage so nothing after it (register, deploy) runs. `baseline` (see `mlpipe.ml.baselines`)
gives the metrics that `baseline.<metric>` in a gate refers to. A model some stage produced
is loaded only if its bytes match the hash that stage recorded in the lock file (`lockcheck`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from mlpipe.errors import LockFileError, StageFailed
from mlpipe.kinds.plugin import ConfigProblem, StageContext, StageKind, StageResult, output_path
from mlpipe.ml import baselines
from mlpipe.ml import gates as gatelib
from mlpipe.ml.dataio import DataError, read_table, write_json
from mlpipe.ml.scoring import plot_all, score
from mlpipe.ml.tables import infer_task, library_versions, split_xy, target_and_task
from mlpipe.state.lockcheck import InputMismatch, read_recorded


class EvaluateKind(StageKind):
    """Score `model` on `data`; `gates` decide whether the model may go further."""

    name = "evaluate"
    version = "1"
    required = ("model", "data")
    optional: ClassVar[Mapping[str, Any]] = {
        "target": None, "schema": None, "task": None, "slices": [], "gates": [],
        "baseline": None, "plots": True,
    }
    inputs = ("model", "data", "schema")
    metric_outputs = ("metrics",)

    def check(self, config: Mapping[str, Any]) -> None:
        gates = config.get("gates") or []
        if not isinstance(gates, list):
            raise ConfigProblem("gates", "'gates' must be a list like ['accuracy >= 0.9']")
        for text in gates:
            try:
                gatelib.parse(text)
            except ValueError as exc:
                raise ConfigProblem("gates", str(exc)) from None
        slices = config.get("slices") or []
        if not (isinstance(slices, list) and all(isinstance(c, str) and c for c in slices)):
            raise ConfigProblem("slices", "'slices' must be a list of column names")
        problem = baselines.check(config.get("baseline"))
        if problem:
            raise ConfigProblem("baseline", problem)

    def outputs(self, stage: str, config: Mapping[str, Any]) -> dict[str, str]:
        return {"metrics": output_path(stage, "metrics.json"),
                "report": output_path(stage, "report.json"),
                "plots": output_path(stage, "plots")}

    def always_run(self, config: Mapping[str, Any]) -> bool:
        """A registry alias, or a branch, moves without any file here changing."""
        return config.get("baseline") is not None

    def needs_project(self, config: Mapping[str, Any]) -> bool:
        """A baseline is read from the project's registry or git history."""
        return config.get("baseline") is not None

    def versions(self) -> dict[str, str]:
        return {**super().versions(), **library_versions("scikit-learn", "pandas", "numpy")}

    def run(self, ctx: StageContext) -> StageResult:
        config, stage = ctx.stage.config, ctx.stage.name
        try:
            frame = read_table(ctx.root / config["data"])
        except DataError as exc:
            raise StageFailed(stage, str(exc)) from None
        target, task = target_and_task(ctx.root, stage, config)
        features, y = split_xy(frame, target, stage, config["data"])
        task = task or infer_task(y)
        model = _load_model(ctx, config["model"])
        _check_features(model, features, stage, config["data"])
        metrics = score(model, features, y, task)
        slices = {col: _slices(stage, model, frame, target, task, col)
                  for col in config.get("slices") or []}
        baseline = _baseline(ctx)
        results = [gatelib.check(gatelib.parse(t), metrics, baseline["metrics"])
                   for t in config.get("gates") or []]
        out = ctx.stage.outputs
        plots_dir = ctx.root / out["plots"]
        plots_dir.mkdir(parents=True, exist_ok=True)
        if config.get("plots", True):
            plot_all(model, features, y, task, plots_dir)
        write_json(metrics, ctx.root / out["metrics"])
        passed = all(r["passed"] for r in results)
        write_json({"task": task, "rows": len(frame), "metrics": metrics, "slices": slices,
                    "gates": results, "gates_passed": passed, "baseline": baseline},
                   ctx.root / out["report"])
        failed = [r["message"] for r in results if not r["passed"]]
        if failed:
            raise StageFailed(stage, "; ".join(failed))
        shown = ", ".join(f"{k} {v:.4g}" for k, v in list(metrics.items())[:3])
        return StageResult(shown)


def _load_model(ctx: StageContext, path: str) -> Any:
    """The fitted model in a joblib file, loaded from bytes checked against the lock file.

    A missing, unreadable or tampered file fails the stage.
    """
    from mlpipe.serving.modelfile import load_bytes

    stage, name = ctx.stage.name, Path(path).name
    try:
        data = read_recorded(ctx.root, path, ctx.lock_file)
    except FileNotFoundError:
        raise StageFailed(stage, f"{name}: model file not found") from None
    except OSError as exc:
        raise StageFailed(stage, f"{name}: cannot read model: {exc.strerror}") from None
    except InputMismatch as exc:
        raise StageFailed(stage, f"model file {exc}") from None
    except LockFileError as exc:
        raise StageFailed(stage, str(exc)) from None
    try:
        model = load_bytes(data)
    except Exception as exc:  # unpickling can raise anything
        raise StageFailed(stage, f"{name}: cannot load model: {exc}") from None
    if not hasattr(model, "predict"):
        raise StageFailed(stage, f"{name}: holds a {type(model).__name__}, not a model")
    return model


def _check_features(model: Any, features: Any, stage: str, source: str) -> None:
    """Fail the stage, naming the columns, when `features` lack columns the model was fit on."""
    expected = [str(c) for c in getattr(model, "feature_names_in_", [])]
    missing = [c for c in expected if c not in features.columns]
    if missing:
        raise StageFailed(stage, f"{source}: missing feature column(s) the model was trained "
                                 f"on: {', '.join(missing)}")


def _slices(stage: str, model: Any, frame: Any, target: str, task: str, column: str
            ) -> dict[str, Any]:
    """Metrics per value of `column`."""
    if column not in frame.columns:
        raise StageFailed(stage, f"slices: no column '{column}' "
                                 f"(columns: {', '.join(map(str, frame.columns))})")
    found = {}
    for value, part in frame.groupby(column, sort=True, dropna=False):
        features, y = part.drop(columns=[target]), part[target]
        found[str(value)] = {"rows": len(part), **score(model, features, y, task, light=True)}
    return found


def _baseline(ctx: StageContext) -> dict[str, Any]:
    """The report's `baseline`: where it comes from and its metrics (None: "no baseline")."""
    spec = ctx.stage.config.get("baseline")
    if not spec:
        return {"source": None, "metrics": None, "note": "no baseline"}
    metrics = baselines.load(ctx.root, spec)
    return {"source": baselines.describe(spec), "metrics": metrics,
            "note": "found" if metrics is not None else "no baseline"}

"""The `evaluate` kind: score a model on held-out data, per slice, and apply gates.

Outputs: `metrics` (flat JSON, recorded in the run history), `report` (metrics, slices,
gates) and `plots` (PNG files). A failed gate writes every output, then fails the stage so
nothing after it (register, deploy) runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from mlpipe import gitinfo
from mlpipe.errors import StageFailed
from mlpipe.kinds import gates as gatelib
from mlpipe.kinds import register
from mlpipe.kinds.base import ConfigProblem, StageContext, StageKind, StageResult, output_path
from mlpipe.kinds.dataio import DataError, read_table, write_json
from mlpipe.kinds.scoring import plot_all, score
from mlpipe.kinds.tabular import infer_task, library_versions, split_xy, target_and_task


@register
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
        baseline = config.get("baseline")
        if baseline is not None and not (isinstance(baseline, Mapping) and baseline.get("rev")
                                         and baseline.get("metrics")):
            raise ConfigProblem("baseline", "'baseline' needs 'rev' (a git revision) and "
                                            "'metrics' (the metrics file at that revision)")

    def outputs(self, stage: str, config: Mapping[str, Any]) -> dict[str, str]:
        return {"metrics": output_path(stage, "metrics.json"),
                "report": output_path(stage, "report.json"),
                "plots": output_path(stage, "plots")}

    def always_run(self, config: Mapping[str, Any]) -> bool:
        """A baseline at a branch moves without any file here changing."""
        return config.get("baseline") is not None

    def versions(self) -> dict[str, str]:
        return {**super().versions(), **library_versions("scikit-learn", "pandas", "numpy")}

    def run(self, ctx: StageContext) -> StageResult:
        import joblib

        config, stage = ctx.stage.config, ctx.stage.name
        try:
            frame = read_table(ctx.root / config["data"])
        except DataError as exc:
            raise StageFailed(stage, str(exc)) from None
        target, task = target_and_task(ctx.root, stage, config)
        features, y = split_xy(frame, target, stage, config["data"])
        task = task or infer_task(y)
        model = joblib.load(ctx.root / config["model"])
        metrics = score(model, features, y, task)
        slices = {str(col): _slices(stage, model, frame, target, task, str(col))
                  for col in config.get("slices") or []}
        baseline = _baseline(ctx)
        results = [gatelib.check(gatelib.parse(t), metrics, baseline)
                   for t in config.get("gates") or []]
        out = ctx.stage.outputs
        plots_dir = ctx.root / out["plots"]
        plots_dir.mkdir(parents=True, exist_ok=True)
        if config.get("plots", True):
            plot_all(model, features, y, task, plots_dir)
        write_json(metrics, ctx.root / out["metrics"])
        passed = all(r["passed"] for r in results)
        write_json({"metrics": metrics, "slices": slices, "gates": results,
                    "gates_passed": passed, "baseline": baseline}, ctx.root / out["report"])
        failed = [r["message"] for r in results if not r["passed"]]
        if failed:
            raise StageFailed(stage, "; ".join(failed))
        shown = ", ".join(f"{k} {v:.4g}" for k, v in list(metrics.items())[:3])
        return StageResult(shown)


def _slices(stage: str, model: Any, frame: Any, target: str, task: str, column: str
            ) -> dict[str, Any]:
    """Metrics per value of `column`."""
    if column not in frame.columns:
        raise StageFailed(stage, f"slices: no column '{column}'")
    found = {}
    for value, part in frame.groupby(column, sort=True):
        features, y = part.drop(columns=[target]), part[target]
        found[str(value)] = {"rows": len(part), **score(model, features, y, task, light=True)}
    return found


def _baseline(ctx: StageContext) -> dict[str, Any] | None:
    """Metrics of the baseline: the metrics file at a git revision, or None."""
    spec = ctx.stage.config.get("baseline")
    if not spec:
        return None
    data = gitinfo.file_at_rev(ctx.root, str(spec["rev"]), ctx.root / str(spec["metrics"]))
    if data is None:
        return None
    try:
        loaded = json.loads(data)
    except ValueError:
        return None
    return loaded if isinstance(loaded, dict) else None


"""The `train` kind: fit an estimator (with its preprocessing) on a training table.

Outputs: `model` (a joblib file of a fitted scikit-learn Pipeline that takes raw features)
and `model_meta` (its signature: features and dtypes, target, classes, task, estimator,
hyperparams, seed, training-data hash, cross-validation, library versions).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from mlpipe.errors import StageFailed
from mlpipe.hashing import hash_file
from mlpipe.kinds import register
from mlpipe.kinds.base import ConfigProblem, StageContext, StageKind, StageResult, output_path
from mlpipe.kinds.dataio import DataError, read_table, write_json
from mlpipe.kinds.estimators import build, check_preprocessing, import_path
from mlpipe.kinds.tabular import infer_task, library_versions, split_xy, target_and_task

SEARCHES = ("grid", "random")


@register
class TrainKind(StageKind):
    """Fit `estimator` with `hyperparams` on `data`; optional cross-validation and search."""

    name = "train"
    version = "1"
    required = ("data", "estimator")
    optional: ClassVar[Mapping[str, Any]] = {
        "target": None, "schema": None, "task": None, "hyperparams": {}, "preprocessing": {},
        "seed": 0, "cv": None, "search": None,
    }
    inputs = ("data", "schema")

    def check(self, config: Mapping[str, Any]) -> None:
        try:
            import_path(str(config["estimator"]))
        except ValueError as exc:
            raise ConfigProblem("estimator", str(exc)) from None
        if not isinstance(config.get("hyperparams") or {}, Mapping):
            raise ConfigProblem("hyperparams", "'hyperparams' must be a mapping")
        prep = config.get("preprocessing") or {}
        problem = check_preprocessing(prep) if isinstance(prep, Mapping) else "must be a mapping"
        if problem:
            raise ConfigProblem("preprocessing", f"preprocessing: {problem}")
        cv = config.get("cv")
        if cv is not None and (not isinstance(cv, int) or isinstance(cv, bool) or cv < 2):
            raise ConfigProblem("cv", "'cv' must be a number of folds, at least 2")
        search = config.get("search")
        if search is not None and not (isinstance(search, Mapping)
                                       and search.get("type", "grid") in SEARCHES
                                       and isinstance(search.get("params"), Mapping)):
            raise ConfigProblem("search", "'search' needs 'params' (name -> list of values) "
                                          "and 'type': grid or random")

    def outputs(self, stage: str, config: Mapping[str, Any]) -> dict[str, str]:
        return {"model": output_path(stage, "model.joblib"),
                "model_meta": output_path(stage, "model_meta.json")}

    def display(self, config: Mapping[str, Any]) -> str | None:
        return f"train {config['estimator']} {dict(config.get('hyperparams') or {})}"

    def versions(self) -> dict[str, str]:
        return {**super().versions(),
                **library_versions("scikit-learn", "pandas", "numpy", "joblib")}

    def run(self, ctx: StageContext) -> StageResult:
        import joblib

        config, stage = ctx.stage.config, ctx.stage.name
        data_path = ctx.root / config["data"]
        try:
            frame = read_table(data_path)
        except DataError as exc:
            raise StageFailed(stage, str(exc)) from None
        target, task = target_and_task(ctx.root, stage, config)
        features, y = split_xy(frame, target, stage, config["data"])
        task = task or infer_task(y)
        seed = int(config["seed"])
        try:
            model = build(str(config["estimator"]), config.get("hyperparams") or {}, seed,
                          config.get("preprocessing") or {}, features)
        except (ValueError, TypeError) as exc:
            raise StageFailed(stage, str(exc)) from None
        extra = _fit(model, features, y, config, seed, stage)
        out = ctx.stage.outputs
        model_path = ctx.root / out["model"]
        tmp = model_path.with_name(f".{model_path.name}.tmp")
        model_path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(extra.pop("fitted"), tmp)
        tmp.replace(model_path)
        write_json(_meta(config, task, target, features, y, data_path, seed, extra),
                   ctx.root / out["model_meta"])
        return StageResult(f"{import_path(str(config['estimator'])).rpartition('.')[2]} on "
                           f"{len(frame)} rows")


def _fit(model: Any, features: Any, y: Any, config: Mapping[str, Any], seed: int,
         stage: str) -> dict[str, Any]:
    """Fit (through a search when asked); returns the fitted model and what the fit learnt."""
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, cross_val_score

    extra: dict[str, Any] = {}
    search = config.get("search")
    try:
        if search:
            grid = {f"estimator__{k}": list(v) for k, v in search["params"].items()}
            folds = int(search.get("cv", 3))
            finder = (GridSearchCV(model, grid, cv=folds) if search.get("type", "grid") == "grid"
                      else RandomizedSearchCV(model, grid, n_iter=int(search.get("n_iter", 10)),
                                              cv=folds, random_state=seed))
            finder.fit(features, y)
            model = finder.best_estimator_
            extra["search"] = {"best_params": {k.removeprefix("estimator__"): v for k, v in
                                               finder.best_params_.items()},
                               "best_score": float(finder.best_score_)}
        else:
            model.fit(features, y)
        if config.get("cv"):
            scores = cross_val_score(model, features, y, cv=int(config["cv"]))
            extra["cv"] = {"folds": int(config["cv"]), "mean": float(scores.mean()),
                           "std": float(scores.std())}
    except (ValueError, TypeError) as exc:
        raise StageFailed(stage, f"fit failed: {str(exc).splitlines()[0]}") from None
    extra["fitted"] = model
    return extra


def _meta(config: Mapping[str, Any], task: str, target: str, features: Any, y: Any,
          data_path: Path, seed: int, extra: Mapping[str, Any]) -> dict[str, Any]:
    classes = sorted(y.unique().tolist(), key=str) if task == "classification" else None
    return {
        "task": task, "target": target, "classes": classes,
        "features": [{"name": str(c), "dtype": str(t)} for c, t in features.dtypes.items()],
        "estimator": import_path(str(config["estimator"])),
        "params": dict(config.get("hyperparams") or {}), "seed": seed,
        "training_data_hash": hash_file(data_path), "rows": len(features),
        "library_versions": library_versions("scikit-learn", "pandas", "numpy", "joblib"),
        **extra,
    }

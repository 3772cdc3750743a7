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
from mlpipe.kinds.plugin import ConfigProblem, StageContext, StageKind, StageResult, output_path
from mlpipe.ml.dataio import DataError, read_table, write_json
from mlpipe.ml.estimators import build, check_preprocessing, import_path
from mlpipe.ml.tables import infer_task, library_versions, split_xy, target_and_task
from mlpipe.state.hashing import hash_file

SEARCHES = ("grid", "random")
TASKS = ("classification", "regression")


def _is_int(value: Any, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _search_problem(search: Any) -> str | None:
    """A problem with a `search` mapping, or None."""
    if search is None:
        return None
    usage = ("'search' needs 'params' (hyperparameter -> list of values), 'type': grid or "
             "random, and optionally 'cv' (folds, default 3) and 'n_iter' (random, default 10)")
    if not isinstance(search, Mapping) or set(search) - {"type", "params", "cv", "n_iter"}:
        return usage
    grid = search.get("params")
    if search.get("type", "grid") not in SEARCHES or not isinstance(grid, Mapping) or not grid:
        return usage
    bad = [str(k) for k, v in grid.items() if not (isinstance(v, list) and v)]
    if bad:
        return f"search: params.{bad[0]} must be a non-empty list of values"
    if not _is_int(search.get("cv", 3), 2) or not _is_int(search.get("n_iter", 10), 1):
        return "search: 'cv' must be at least 2 folds and 'n_iter' at least 1"
    return None


class TrainKind(StageKind):
    """Fit `estimator` with `hyperparams` on `data`; optional cross-validation and search.

    The estimator's parameters go in `hyperparams` (the common stage field `params` lists the
    pipeline params a stage reads, so it cannot hold them).
    """

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
            raise ConfigProblem("hyperparams", "'hyperparams' must be a mapping of the "
                                               "estimator's parameters")
        prep = config.get("preprocessing") or {}
        problem = check_preprocessing(prep) if isinstance(prep, Mapping) else "must be a mapping"
        if problem:
            raise ConfigProblem("preprocessing", f"preprocessing: {problem}")
        if config.get("task") not in (None, *TASKS):
            raise ConfigProblem("task", f"'task' must be one of {', '.join(TASKS)}")
        if not _is_int(config.get("seed", 0), 0):
            raise ConfigProblem("seed", "'seed' must be a whole number, 0 or more")
        if config.get("cv") is not None and not _is_int(config["cv"], 2):
            raise ConfigProblem("cv", "'cv' must be a number of folds, at least 2")
        problem = _search_problem(config.get("search"))
        if problem:
            raise ConfigProblem("search", problem)

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
        if y.isna().any():
            raise StageFailed(stage, f"{config['data']}: target column '{target}' has "
                                     f"{int(y.isna().sum())} missing value(s)")
        task = task or infer_task(y)
        seed = int(config["seed"])
        try:
            model = build(str(config["estimator"]), config.get("hyperparams") or {}, seed,
                          config.get("preprocessing") or {}, features)
        except (ValueError, TypeError) as exc:
            raise StageFailed(stage, str(exc)) from None
        _check_task(model, task, stage)
        extra = _fit(model, features, y, config, seed, stage)
        fitted = extra.pop("fitted")
        model_path = ctx.root / ctx.stage.outputs["model"]
        tmp = model_path.with_name(f".{model_path.name}.tmp")
        model_path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(fitted, tmp)
        tmp.replace(model_path)
        write_json(_meta(config, task, target, features, fitted, data_path, seed, extra),
                   ctx.root / ctx.stage.outputs["model_meta"])
        return StageResult(f"{import_path(str(config['estimator'])).rpartition('.')[2]} on "
                           f"{len(frame)} rows")


def _check_task(model: Any, task: str, stage: str) -> None:
    """Fail the stage when a regressor is asked to classify, or a classifier to regress."""
    from sklearn.base import is_classifier, is_regressor

    estimator = model.named_steps["estimator"]
    kind = type(estimator).__name__
    if task == "classification" and is_regressor(estimator):
        raise StageFailed(stage, f"{kind} is a regressor but the task is classification")
    if task == "regression" and is_classifier(estimator):
        raise StageFailed(stage, f"{kind} is a classifier but the task is regression")


def _fit(model: Any, features: Any, y: Any, config: Mapping[str, Any], seed: int,
         stage: str) -> dict[str, Any]:
    """Fit (through a search when asked); returns the fitted model and what the fit learnt.

    The search's candidates and the cross-validation folds go to whatever joblib backend is
    active (on a dask worker: the cluster); they only send back scores. The model that is
    saved is fitted by `_fit_here`.
    """
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, cross_val_score

    extra: dict[str, Any] = {}
    search = config.get("search")
    try:
        if search:
            grid = {f"estimator__{k}": list(v) for k, v in search["params"].items()}
            folds = int(search.get("cv", 3))
            finder = (GridSearchCV(model, grid, cv=folds, refit=False)
                      if search.get("type", "grid") == "grid"
                      else RandomizedSearchCV(model, grid, n_iter=int(search.get("n_iter", 10)),
                                              cv=folds, random_state=seed, refit=False))
            finder.fit(features, y)
            model = clone(model).set_params(**finder.best_params_)
            extra["search"] = {"type": search.get("type", "grid"), "folds": folds,
                               "candidates": len(finder.cv_results_["params"]),
                               "best_params": {k.removeprefix("estimator__"): v for k, v in
                                               finder.best_params_.items()},
                               "best_score": float(finder.best_score_)}
        _fit_here(model, features, y)
        if config.get("cv"):
            scores = cross_val_score(model, features, y, cv=int(config["cv"]))
            extra["cv"] = {"folds": int(config["cv"]), "mean": float(scores.mean()),
                           "std": float(scores.std())}
    except (ValueError, TypeError) as exc:
        raise StageFailed(stage, f"fit failed: {str(exc).splitlines()[0]}") from None
    extra["fitted"] = model
    return extra


def _fit_here(model: Any, features: Any, y: Any) -> None:
    """Fit the model that is saved in this process (joblib's threads at most, never another
    process or a cluster).

    A part fitted elsewhere comes back unpickled, without the object sharing it had, and the
    saved model's bytes would then depend on where the stage ran.
    """
    import joblib

    with joblib.parallel_config(backend="threading"):
        model.fit(features, y)


def _meta(config: Mapping[str, Any], task: str, target: str, features: Any, fitted: Any,
          data_path: Path, seed: int, extra: Mapping[str, Any]) -> dict[str, Any]:
    """The `model_meta` output: the model's signature and how it was made."""
    classes = getattr(fitted, "classes_", None)
    params = dict(config.get("hyperparams") or {})
    params.update(extra.get("search", {}).get("best_params", {}))
    return {
        "task": task, "target": target,
        "classes": classes.tolist() if task == "classification" and classes is not None
        else None,
        "features": [{"name": str(c), "dtype": str(t)} for c, t in features.dtypes.items()],
        "estimator": import_path(str(config["estimator"])),
        "params": params, "seed": seed,
        "training_data_hash": hash_file(data_path), "rows": len(features),
        "library_versions": library_versions("scikit-learn", "pandas", "numpy", "joblib"),
        **extra,
    }

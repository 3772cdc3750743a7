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
from mlpipe.ml import features as featurelib
from mlpipe.ml import fitting
from mlpipe.ml.dataio import DataError, read_table, write_json
from mlpipe.ml.estimators import (
    build,
    check_params,
    check_preprocessing,
    import_path,
    resolve_value,
)
from mlpipe.ml.selection import check_cv, check_scoring, groups_column, make_cv, make_scoring
from mlpipe.ml.tables import infer_task, library_versions, split_xy, target_and_task, target_problem
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
    if not isinstance(search, Mapping) or set(search) - {"type", "params", "cv", "n_iter",
                                                         "scoring"}:
        return usage
    grid = search.get("params")
    if search.get("type", "grid") not in SEARCHES or not isinstance(grid, Mapping) or not grid:
        return usage
    bad = [str(k) for k, v in grid.items() if not (isinstance(v, list) and v)]
    if bad:
        return f"search: params.{bad[0]} must be a non-empty list of values"
    if not _is_int(search.get("n_iter", 10), 1):
        return "search: 'n_iter' must be at least 1"
    return check_cv(search.get("cv", 3), "search.cv") or check_scoring(search.get("scoring"),
                                                                        "search.scoring")


class TrainKind(StageKind):
    """Fit `estimator` with `hyperparams` on `data`; optional cross-validation and search.

    The estimator's parameters go in `hyperparams` (the common stage field `params` lists the
    pipeline params a stage reads, so it cannot hold them).
    """

    name = "train"
    version = "2"
    required = ("data", "estimator")
    optional: ClassVar[Mapping[str, Any]] = {
        "target": None, "schema": None, "task": None, "hyperparams": {}, "preprocessing": {},
        "seed": 0, "cv": None, "search": None, "fit_params": {}, "eval_set": None,
        "sample_weight": None, "scoring": None, "features": None,
    }
    inputs = ("data", "schema")
    code_fields = ("estimator", "hyperparams", "preprocessing", "search", "fit_params",
                   "scoring", "features")

    def check(self, config: Mapping[str, Any]) -> None:
        problem = target_problem(config.get("target"))
        if problem:
            raise ConfigProblem("target", problem)
        try:
            import_path(str(config["estimator"]))
        except ValueError as exc:
            raise ConfigProblem("estimator", str(exc)) from None
        if not isinstance(config.get("hyperparams") or {}, Mapping):
            raise ConfigProblem("hyperparams", "'hyperparams' must be a mapping of the "
                                               "estimator's parameters")
        problem = check_params(config.get("hyperparams") or {}, "hyperparams")
        if problem:
            raise ConfigProblem("hyperparams", problem)
        fit_problem = fitting.check(config)
        if fit_problem:
            raise ConfigProblem(*fit_problem)
        prep = config.get("preprocessing") or {}
        problem = check_preprocessing(prep) if isinstance(prep, Mapping) else "must be a mapping"
        if problem:
            raise ConfigProblem("preprocessing", f"preprocessing: {problem}")
        if config.get("task") not in (None, *TASKS):
            raise ConfigProblem("task", f"'task' must be one of {', '.join(TASKS)}")
        if not _is_int(config.get("seed", 0), 0):
            raise ConfigProblem("seed", "'seed' must be a whole number, 0 or more")
        for name, check in (("cv", check_cv), ("scoring", check_scoring),
                            ("features", featurelib.check)):
            problem = check(config.get(name))
            if problem:
                raise ConfigProblem(name, problem)
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
        features, weights = fitting.take_weights(features, config, stage, config["data"])
        features, groups = fitting.take_groups(features, _groups_of(config), stage,
                                               config["data"])
        try:
            plans = featurelib.plan(features, config.get("features"))
            model = build(str(config["estimator"]), config.get("hyperparams") or {}, seed,
                          config.get("preprocessing") or {}, features, plans)
        except (ValueError, TypeError) as exc:
            raise StageFailed(stage, str(exc)) from None
        _check_task(model, task, stage)
        inputs = fitting.prepare(model, features, y, weights, groups, config, seed, task, stage)
        extra = _fit(model, inputs, config, seed, stage)
        fitted = extra.pop("fitted")
        model_path = ctx.root / ctx.stage.outputs["model"]
        tmp = model_path.with_name(f".{model_path.name}.tmp")
        model_path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(fitted, tmp)
        tmp.replace(model_path)
        extra["feature_roles"] = {p.column: p.role for p in plans}
        write_json(_meta(config, task, target, features, fitted, data_path, seed, extra),
                   ctx.root / ctx.stage.outputs["model_meta"])
        return StageResult(f"{import_path(str(config['estimator'])).rpartition('.')[2]} on "
                           f"{len(frame)} rows", warning="; ".join(featurelib.warnings_of(plans)))


def _check_task(model: Any, task: str, stage: str) -> None:
    """Fail the stage when a regressor is asked to classify, or a classifier to regress."""
    from sklearn.base import is_classifier, is_regressor

    estimator = model.named_steps["estimator"]
    kind = type(estimator).__name__
    if task == "classification" and is_regressor(estimator):
        raise StageFailed(stage, f"{kind} is a regressor but the task is classification")
    if task == "regression" and is_classifier(estimator):
        raise StageFailed(stage, f"{kind} is a classifier but the task is regression")


def _fit(model: Any, inputs: fitting.FitInputs, config: Mapping[str, Any], seed: int,
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
    features, y, params = inputs.features, inputs.y, inputs.params
    groups = {} if inputs.groups is None else {"groups": inputs.groups}
    try:
        if search:
            resolved = {k: [resolve_value(item, seed, f"search.params.{k}") for item in v]
                        for k, v in search["params"].items()}
            grid = {f"estimator__{k}": v for k, v in resolved.items()}
            spec = search.get("cv", 3)
            scoring = make_scoring(search.get("scoring", config.get("scoring")))
            finder = (GridSearchCV(model, grid, cv=make_cv(spec, seed), refit=False,
                                   scoring=scoring)
                      if search.get("type", "grid") == "grid"
                      else RandomizedSearchCV(model, grid, n_iter=int(search.get("n_iter", 10)),
                                              cv=make_cv(spec, seed), random_state=seed,
                                              refit=False, scoring=scoring))
            finder.fit(features, y, **groups, **params)
            model = clone(model).set_params(**finder.best_params_)
            best = {k.removeprefix("estimator__"): v for k, v in finder.best_params_.items()}
            extra["search"] = {"type": search.get("type", "grid"), "folds": _folds(spec),
                               "candidates": len(finder.cv_results_["params"]),
                               "best_params": {k: _as_written(search["params"][k],
                                                              resolved[k], v)
                                               for k, v in best.items()},
                               "best_score": float(finder.best_score_)}
        _fit_here(model, features, y, params)
        if config.get("cv"):
            spec = config["cv"]
            scores = cross_val_score(model, features, y, cv=make_cv(spec, seed), params=params,
                                     scoring=make_scoring(config.get("scoring")), **groups)
            extra["cv"] = {"folds": _folds(spec), "mean": float(scores.mean()),
                           "std": float(scores.std())}
            if isinstance(spec, Mapping) or config.get("scoring"):
                extra["cv"].update(splitter=type(make_cv(spec, seed)).__name__
                                   if isinstance(spec, Mapping) else "default",
                                   scoring=config.get("scoring"))
    except (ValueError, TypeError) as exc:
        raise StageFailed(stage, f"fit failed: {str(exc).splitlines()[0]}") from None
    if inputs.eval_rows or params:
        extra["fit"] = {"eval_set_rows": inputs.eval_rows,
                        "sample_weight": config.get("sample_weight"),
                        "fit_params": sorted(config.get("fit_params") or {})}
    extra["fitted"] = model
    return extra


def _folds(spec: Any) -> int:
    """The number of folds a `cv` value asks for."""
    return int(spec.get("folds", 5)) if isinstance(spec, Mapping) else int(spec)


def _groups_of(config: Mapping[str, Any]) -> str | None:
    """The groups column of the stage's `cv` or `search.cv`, if either has one."""
    search = config.get("search") or {}
    return groups_column(config.get("cv")) or groups_column(search.get("cv"))


def _as_written(written: list[Any], resolved: list[Any], best: Any) -> Any:
    """The best search value as the pipeline file wrote it (an estimator as its mapping)."""
    return next((w for w, r in zip(written, resolved, strict=True) if r is best), best)


def _fit_here(model: Any, features: Any, y: Any, params: Mapping[str, Any]) -> None:
    """Fit the model that is saved in this process (joblib's threads at most, never another
    process or a cluster).

    A part fitted elsewhere comes back unpickled, without the object sharing it had, and the
    saved model's bytes would then depend on where the stage ran.
    """
    import joblib

    with joblib.parallel_config(backend="threading"):
        model.fit(features, y, **params)


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
        "training_data_hash": hash_file(data_path),
        "rows": len(features) - extra.get("fit", {}).get("eval_set_rows", 0),
        "library_versions": library_versions("scikit-learn", "pandas", "numpy", "joblib"),
        **extra,
    }

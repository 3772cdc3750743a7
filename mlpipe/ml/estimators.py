"""Estimators by short alias or import path, and the preprocessing built in front of them.

The model a train stage writes is one scikit-learn Pipeline: a ColumnTransformer (impute and
scale numeric columns, impute and one-hot encode the others) and then the estimator, so the
artifact takes raw feature tables.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mlpipe.errors import did_you_mean

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

    from mlpipe.ml.features import ColumnPlan

ALIASES: dict[str, str] = {
    "logistic_regression": "sklearn.linear_model.LogisticRegression",
    "ridge": "sklearn.linear_model.Ridge",
    "lasso": "sklearn.linear_model.Lasso",
    "linear_regression": "sklearn.linear_model.LinearRegression",
    "random_forest": "sklearn.ensemble.RandomForestClassifier",
    "random_forest_regressor": "sklearn.ensemble.RandomForestRegressor",
    "gradient_boosting": "sklearn.ensemble.GradientBoostingClassifier",
    "gradient_boosting_regressor": "sklearn.ensemble.GradientBoostingRegressor",
    "hist_gradient_boosting": "sklearn.ensemble.HistGradientBoostingClassifier",
    "hist_gradient_boosting_regressor": "sklearn.ensemble.HistGradientBoostingRegressor",
    "svc": "sklearn.svm.SVC",
    "svr": "sklearn.svm.SVR",
    "knn": "sklearn.neighbors.KNeighborsClassifier",
    "knn_regressor": "sklearn.neighbors.KNeighborsRegressor",
    "decision_tree": "sklearn.tree.DecisionTreeClassifier",
    "decision_tree_regressor": "sklearn.tree.DecisionTreeRegressor",
}
IMPUTE = ("mean", "median", "most_frequent", "none")
SCALE = ("standard", "minmax", "none")


def import_path(name: str) -> str:
    """The import path of an alias or of a dotted path.

    Args:
        name: An alias (`ridge`) or an import path (`sklearn.linear_model.Ridge`).

    Returns:
        The import path; a path's package must be installed (the module is not imported).

    Raises:
        ValueError: An unknown alias (with the nearest ones), or a path to a missing package.
    """
    if name in ALIASES:
        return ALIASES[name]
    module_name, dot, attr = name.rpartition(".")
    if not dot:
        raise ValueError(f"unknown estimator '{name}'{did_you_mean(name, ALIASES)}; use an "
                         f"alias ({', '.join(sorted(ALIASES))}) or an import path like "
                         "sklearn.linear_model.Ridge")
    top = module_name.partition(".")[0]
    if not (top and attr and top.isidentifier() and attr.isidentifier()
            and importlib.util.find_spec(top) is not None):
        raise ValueError(f"estimator '{name}': no installed package '{top}' "
                         "(an import path looks like sklearn.linear_model.Ridge)")
    return name


def estimator_class(name: str) -> type:
    """Import the estimator class an alias or path names.

    Raises:
        ValueError: The module or the class does not exist (with the nearest class name).
    """
    module_name, _, attr = import_path(name).rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise ValueError(f"estimator '{name}': cannot import module {module_name}") from None
    cls = getattr(module, attr, None)
    if not isinstance(cls, type):
        public = [n for n in dir(module) if not n.startswith("_")]
        raise ValueError(f"estimator '{name}': {module_name} has no class '{attr}'"
                         f"{did_you_mean(attr, public)}")
    if not hasattr(cls, "fit") or not hasattr(cls, "get_params"):
        raise ValueError(f"estimator '{name}': {cls.__name__} is not a scikit-learn estimator")
    return cls


def check_preprocessing(spec: Mapping[str, Any]) -> str | None:
    """A problem with a `preprocessing` mapping, or None."""
    unknown = set(spec) - {"impute", "scale", "one_hot"}
    if unknown:
        return f"unknown preprocessing option '{sorted(unknown)[0]}' (impute, scale, one_hot)"
    if spec.get("impute", "median") not in IMPUTE:
        return f"impute must be one of {', '.join(IMPUTE)}"
    if spec.get("scale", "standard") not in SCALE:
        return f"scale must be one of {', '.join(SCALE)}"
    if not isinstance(spec.get("one_hot", True), bool):
        return "one_hot must be true or false"
    return None


def _default_params(cls: type) -> dict[str, Any]:
    """The parameters a default instance reports (they include `**kwargs` ones), or {}."""
    try:
        return dict(cls().get_params(deep=False))
    except Exception:  # a meta-estimator that needs arguments, or an odd constructor
        return {}


def make_estimator(name: str, hyperparams: Mapping[str, Any], seed: int) -> Any:
    """An unfitted estimator with `hyperparams`; `seed` becomes its random_state if it has one.

    Values are built with `resolve_value`, so a parameter may be another estimator
    (`{estimator: ..., params: ...}`), a call's result (`{call: ..., params: ...}`) or an
    object named by import path (`numpy.log1p`). Keys are checked against the constructor's
    signature; an estimator that takes `**kwargs` (xgboost, LightGBM) accepts others too.

    Raises:
        ValueError: Unknown estimator, or a hyperparameter it does not take (did-you-mean).
    """
    cls = estimator_class(name)
    signature = inspect.signature(cls).parameters.values()
    known = [p.name for p in signature if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    open_ended = any(p.kind is p.VAR_KEYWORD for p in signature)
    if not open_ended:
        for key in hyperparams:
            if key not in known:
                raise ValueError(f"{cls.__name__} has no hyperparameter '{key}'"
                                 f"{did_you_mean(str(key), known)}")
    params = {key: resolve_value(value, seed, f"{cls.__name__}.{key}")
              for key, value in hyperparams.items()}
    seeded = "random_state" in known or (open_ended and "random_state" in _default_params(cls))
    if seeded and "random_state" not in params:
        params["random_state"] = seed
    return cls(**params)


def check_params(params: Mapping[str, Any], where: str) -> str | None:
    """A problem with any value of a parameter mapping (see `check_value`), or None."""
    return next((p for k, v in params.items() if (p := check_value(v, f"{where}.{k}"))), None)


def check_value(value: Any, where: str) -> str | None:
    """A problem with a nested `{estimator: ...}` or `{call: ...}` mapping, or None."""
    if isinstance(value, Mapping):
        heads = [k for k in NESTED if k in value]
        if heads:
            extra = set(value) - {heads[0], "params"}
            if len(heads) > 1 or extra or not isinstance(value[heads[0]], str):
                return (f"{where}: write {{estimator: IMPORT.PATH, params: {{...}}}} or "
                        f"{{call: IMPORT.PATH, params: {{...}}}}")
            if not isinstance(value.get("params") or {}, Mapping):
                return f"{where}: 'params' must be a mapping"
            return check_params(value.get("params") or {}, f"{where}.params")
        return check_params(value, where)
    if isinstance(value, list):
        return next((p for i, v in enumerate(value) if (p := check_value(v, f"{where}[{i}]"))),
                    None)
    return None


NESTED = ("estimator", "call")
_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")


def resolve_value(value: Any, seed: int, where: str) -> Any:
    """A hyperparameter (or fit parameter) as written in YAML, made into its Python value.

    - `{estimator: PATH, params: {...}}`: that estimator, built like the stage's own (seeded);
    - `{call: PATH, params: {...}}`: the result of calling PATH with params (a callback, a
      scorer, a kernel...);
    - a string that is the import path of an object (`numpy.log1p`,
      `sklearn.svm.LinearSVC`): that object, or a default instance for an estimator class;
    - lists and other mappings: item by item; anything else unchanged.

    Raises:
        ValueError: A nested path that cannot be imported or called.
    """
    if isinstance(value, Mapping):
        if "estimator" in value:
            return make_estimator(str(value["estimator"]), value.get("params") or {}, seed)
        if "call" in value:
            target = _import_object(str(value["call"]), where)
            if not callable(target):
                raise ValueError(f"{where}: {value['call']} is not callable")
            params = {k: resolve_value(v, seed, f"{where}.{k}")
                      for k, v in (value.get("params") or {}).items()}
            try:
                return target(**params)
            except TypeError as exc:
                raise ValueError(f"{where}: {value['call']}(...): {exc}") from None
        return {k: resolve_value(v, seed, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_value(v, seed, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str) and _DOTTED.match(value):
        target = _import_object(value, where, required=False)
        if target is None:
            return value
        if isinstance(target, type) and hasattr(target, "fit") and hasattr(target, "get_params"):
            return make_estimator(value, {}, seed)
        return target
    return value


def _import_object(path: str, where: str, required: bool = True) -> Any:
    """The object an import path names; None (when not `required`) if there is none."""
    module_name, _, attr = path.rpartition(".")
    top = module_name.partition(".")[0]
    found = bool(top) and importlib.util.find_spec(top) is not None
    module = None
    if found:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            module = None
    target = getattr(module, attr, None) if module is not None else None
    if target is None and required:
        raise ValueError(f"{where}: cannot import {path}")
    return target


def build(name: str, hyperparams: Mapping[str, Any], seed: int,
          preprocessing: Mapping[str, Any], features: pd.DataFrame,
          plans: list[ColumnPlan] | None = None) -> Pipeline:
    """An unfitted Pipeline(preprocess -> estimator) for these feature columns.

    Args:
        name: Estimator alias or import path.
        hyperparams: The estimator's parameters.
        seed: Its random_state, when it has one and `hyperparams` does not set it.
        preprocessing: {impute, scale, one_hot} (see `check_preprocessing`).
        features: The training features.
        plans: Each column's role (`mlpipe.ml.features.plan`); inferred when not given.

    Returns:
        Pipeline([("preprocess", ColumnTransformer), ("estimator", estimator)]).
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, StandardScaler

    from mlpipe.ml import features as featurelib

    estimator = make_estimator(name, hyperparams, seed)
    plans = featurelib.plan(features, None) if plans is None else plans
    numeric = [p.column for p in plans if p.role == "numeric"]
    other = [p.column for p in plans if p.role == "categorical" and not p.options]
    impute = preprocessing.get("impute", "median")
    scale = preprocessing.get("scale", "standard")
    num_steps: list[Any] = [] if impute == "none" else [SimpleImputer(strategy=impute)]
    if scale != "none":
        num_steps.append(StandardScaler() if scale == "standard" else MinMaxScaler())
    cat_steps: list[Any] = [SimpleImputer(strategy="most_frequent")]
    cat_steps.append(OneHotEncoder(handle_unknown="ignore") if preprocessing.get("one_hot", True)
                     else OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1))
    transformers: list[Any] = []
    if numeric:
        transformers.append(("numeric", make_pipeline(*num_steps) if num_steps else
                             "passthrough", numeric))
    if other:
        transformers.append(("categorical", make_pipeline(*cat_steps), other))
    transformers.extend(featurelib.transformers(plans, seed))
    preprocess = ColumnTransformer(transformers, remainder="drop")
    return Pipeline([("preprocess", preprocess), ("estimator", estimator)])

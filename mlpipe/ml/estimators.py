"""Estimators by short alias or import path, and the preprocessing built in front of them.

The model a train stage writes is one scikit-learn Pipeline: a ColumnTransformer (impute and
scale numeric columns, impute and one-hot encode the others) and then the estimator, so the
artifact takes raw feature tables.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mlpipe.errors import did_you_mean

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

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


def make_estimator(name: str, hyperparams: Mapping[str, Any], seed: int) -> Any:
    """An unfitted estimator with `hyperparams`; `seed` becomes its random_state if it has one.

    Raises:
        ValueError: Unknown estimator, or a hyperparameter it does not take (did-you-mean).
    """
    cls = estimator_class(name)
    known = [p.name for p in inspect.signature(cls).parameters.values()
             if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    for key in hyperparams:
        if key not in known:
            raise ValueError(f"{cls.__name__} has no hyperparameter '{key}'"
                             f"{did_you_mean(str(key), known)}")
    params = dict(hyperparams)
    if "random_state" in known and "random_state" not in params:
        params["random_state"] = seed
    return cls(**params)


def build(name: str, hyperparams: Mapping[str, Any], seed: int,
          preprocessing: Mapping[str, Any], features: pd.DataFrame) -> Pipeline:
    """An unfitted Pipeline(preprocess -> estimator) for these feature columns.

    Args:
        name: Estimator alias or import path.
        hyperparams: The estimator's parameters.
        seed: Its random_state, when it has one and `hyperparams` does not set it.
        preprocessing: {impute, scale, one_hot} (see `check_preprocessing`).
        features: The training features (numeric vs other columns decide the transformers).

    Returns:
        Pipeline([("preprocess", ColumnTransformer), ("estimator", estimator)]).
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, StandardScaler

    estimator = make_estimator(name, hyperparams, seed)
    numeric = [c for c in features.columns if features[c].dtype.kind in "biuf"]
    other = [c for c in features.columns if c not in numeric]
    impute = preprocessing.get("impute", "median")
    scale = preprocessing.get("scale", "standard")
    num_steps: list[Any] = [] if impute == "none" else [SimpleImputer(strategy=impute)]
    if scale != "none":
        num_steps.append(StandardScaler() if scale == "standard" else MinMaxScaler())
    cat_steps: list[Any] = [SimpleImputer(strategy="most_frequent")]
    cat_steps.append(OneHotEncoder(handle_unknown="ignore") if preprocessing.get("one_hot", True)
                     else OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1))
    transformers = []
    if numeric:
        transformers.append(("numeric", make_pipeline(*num_steps) if num_steps else
                             "passthrough", numeric))
    if other:
        transformers.append(("categorical", make_pipeline(*cat_steps), other))
    preprocess = ColumnTransformer(transformers, remainder="drop")
    return Pipeline([("preprocess", preprocess), ("estimator", estimator)])

"""Estimators by short alias or import path, and the preprocessing built in front of them.

The model a train stage writes is one scikit-learn Pipeline: a ColumnTransformer (impute and
scale numeric columns, impute and one-hot encode the others) and then the estimator, so the
artifact takes raw feature tables.
"""

from __future__ import annotations

import importlib
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
    """The import path of an alias or of a dotted path (not checked to exist).

    Raises:
        ValueError: An unknown alias, with the nearest ones.
    """
    if name in ALIASES:
        return ALIASES[name]
    if "." in name:
        return name
    raise ValueError(f"unknown estimator '{name}'{did_you_mean(name, ALIASES)}; use an alias "
                     f"({', '.join(sorted(ALIASES))}) or an import path like "
                     "sklearn.linear_model.Ridge")


def estimator_class(name: str) -> type:
    """Import the estimator class an alias or path names."""
    module_name, _, attr = import_path(name).rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError):
        raise ValueError(f"estimator '{name}': cannot import {module_name}.{attr}") from None


def check_preprocessing(spec: Mapping[str, Any]) -> str | None:
    """A problem with a `preprocessing` mapping, or None."""
    unknown = set(spec) - {"impute", "scale", "one_hot"}
    if unknown:
        return f"unknown preprocessing option '{sorted(unknown)[0]}' (impute, scale, one_hot)"
    if spec.get("impute", "median") not in IMPUTE:
        return f"impute must be one of {', '.join(IMPUTE)}"
    if spec.get("scale", "standard") not in SCALE:
        return f"scale must be one of {', '.join(SCALE)}"
    return None


def build(name: str, hyperparams: Mapping[str, Any], seed: int,
          preprocessing: Mapping[str, Any], features: pd.DataFrame) -> Pipeline:
    """An unfitted Pipeline(preprocess -> estimator) for these feature columns."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

    cls = estimator_class(name)
    params = dict(hyperparams)
    if "random_state" in cls().get_params() and "random_state" not in params:
        params["random_state"] = seed
    estimator = cls(**params)
    numeric = [c for c in features.columns if features[c].dtype.kind in "biuf"]
    other = [c for c in features.columns if c not in numeric]
    impute = preprocessing.get("impute", "median")
    scale = preprocessing.get("scale", "standard")
    num_steps: list[Any] = [] if impute == "none" else [SimpleImputer(strategy=impute)]
    if scale != "none":
        num_steps.append(StandardScaler() if scale == "standard" else MinMaxScaler())
    cat_steps: list[Any] = [SimpleImputer(strategy="most_frequent")]
    if preprocessing.get("one_hot", True):
        cat_steps.append(OneHotEncoder(handle_unknown="ignore"))
    transformers = []
    if numeric:
        transformers.append(("numeric", make_pipeline(*num_steps) if num_steps else
                             "passthrough", numeric))
    if other:
        transformers.append(("categorical", make_pipeline(*cat_steps), other))
    preprocess = ColumnTransformer(transformers, remainder="drop")
    return Pipeline([("preprocess", preprocess), ("estimator", estimator)])

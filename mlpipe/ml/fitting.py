"""What a train stage passes to `fit` besides X and y: sample weights, an eval set, fit params.

- `sample_weight: COLUMN`: that column weighs each training row; it is not a feature.
- `eval_set: FRACTION`: that share of the training rows is held out (seeded; stratified for
  classification), put through the model's preprocessing as fitted on the other rows, and
  given to the estimator as `eval_set=[(X, y)]` — what xgboost's `early_stopping_rounds`
  and LightGBM's `early_stopping` callback watch. The model is fitted on the other rows.
- `fit_params: {name: value}`: passed to the estimator's `fit`, values built as
  hyperparameters are (`{call: lightgbm.early_stopping, params: {stopping_rounds: 10}}`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlpipe.errors import StageFailed
from mlpipe.ml.estimators import check_params, resolve_value

if TYPE_CHECKING:
    import pandas as pd

FIELDS = ("fit_params", "eval_set", "sample_weight")


@dataclass(frozen=True)
class FitInputs:
    """The rows a model is fitted on, and the keyword arguments of the Pipeline's fit.

    Attributes:
        features: Feature rows to fit on (the eval rows removed).
        y: Their target.
        params: Pipeline fit params (`estimator__sample_weight`, `estimator__eval_set`...).
        eval_rows: How many rows were held out as the eval set (0 for none).
        groups: The cross-validation groups of those rows (None when `cv` has none).
    """

    features: pd.DataFrame
    y: pd.Series
    params: dict[str, Any] = field(default_factory=dict)
    eval_rows: int = 0
    groups: pd.Series | None = None


def check(config: Mapping[str, Any]) -> tuple[str, str] | None:
    """(field, problem) for a bad fit field, or None."""
    fit_params = config.get("fit_params") or {}
    if not isinstance(fit_params, Mapping):
        return "fit_params", "'fit_params' must be a mapping of the estimator's fit arguments"
    problem = check_params(fit_params, "fit_params")
    if problem:
        return "fit_params", problem
    fraction = config.get("eval_set")
    if fraction is not None and (isinstance(fraction, bool) or not isinstance(
            fraction, int | float) or not 0 < fraction < 1):
        return "eval_set", "'eval_set' is the fraction of training rows held out, e.g. 0.1"
    weight = config.get("sample_weight")
    if weight is not None and not (isinstance(weight, str) and weight):
        return "sample_weight", "'sample_weight' names the column that weighs each row"
    if weight is not None and weight == config.get("target"):
        return "sample_weight", "'sample_weight' cannot be the target column"
    return None


def take_groups(features: pd.DataFrame, column: str | None, stage: str, source: str
                ) -> tuple[pd.DataFrame, pd.Series | None]:
    """The features without the cross-validation groups column, and the groups."""
    if column is None:
        return features, None
    if column not in features.columns:
        raise StageFailed(stage, f"{source}: no cv groups column '{column}'")
    if features[column].isna().any():
        raise StageFailed(stage, f"{source}: cv groups column '{column}' has missing values")
    return features.drop(columns=[column]), features[column]


def take_weights(features: pd.DataFrame, config: Mapping[str, Any], stage: str, source: str
                 ) -> tuple[pd.DataFrame, pd.Series | None]:
    """The features without the weight column, and the weights (None when not asked)."""
    import pandas as pd

    column = config.get("sample_weight")
    if column is None:
        return features, None
    if column not in features.columns:
        raise StageFailed(stage, f"{source}: no sample_weight column '{column}'")
    weights = features[column]
    if not pd.api.types.is_numeric_dtype(weights) or pd.api.types.is_bool_dtype(weights):
        raise StageFailed(stage, f"{source}: sample_weight column '{column}' is not numeric")
    if weights.isna().any() or (weights < 0).any():
        raise StageFailed(stage, f"{source}: sample_weight column '{column}' has missing or "
                                 "negative values")
    return features.drop(columns=[column]), weights


def prepare(model: Any, features: pd.DataFrame, y: pd.Series, weights: pd.Series | None,
            groups: pd.Series | None, config: Mapping[str, Any], seed: int, task: str,
            stage: str) -> FitInputs:
    """The rows and fit params for `model` (a Pipeline ending in step `estimator`)."""
    from sklearn.base import clone
    from sklearn.model_selection import train_test_split

    try:
        params = {f"estimator__{k}": resolve_value(v, seed, f"fit_params.{k}")
                  for k, v in (config.get("fit_params") or {}).items()}
    except ValueError as exc:
        raise StageFailed(stage, str(exc)) from None
    fraction = config.get("eval_set")
    eval_rows = 0
    if fraction:
        try:
            fit_idx, eval_idx = train_test_split(
                list(range(len(features))), test_size=float(fraction), random_state=seed,
                stratify=y if task == "classification" else None)
        except ValueError as exc:
            raise StageFailed(stage, f"eval_set: {exc}") from None
        fit_x, eval_x = features.iloc[fit_idx], features.iloc[eval_idx]
        fit_y, eval_y = y.iloc[fit_idx], y.iloc[eval_idx]
        preprocess = clone(model.named_steps["preprocess"]).fit(fit_x, fit_y)
        params["estimator__eval_set"] = [(preprocess.transform(eval_x), eval_y)]
        features, y, eval_rows = fit_x, fit_y, len(eval_idx)
        weights = weights.iloc[fit_idx] if weights is not None else None
        groups = groups.iloc[fit_idx] if groups is not None else None
    if weights is not None:
        params["estimator__sample_weight"] = weights.to_numpy()
    return FitInputs(features, y, params, eval_rows, groups)

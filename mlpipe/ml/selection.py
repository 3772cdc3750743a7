"""How a train stage scores and splits for cross-validation and search: `scoring:`, `cv:`.

`scoring` is a scikit-learn scorer name (`average_precision`, `balanced_accuracy`,
`neg_mean_absolute_percentage_error`...) or `{function: IMPORT.PATH, greater_is_better:
bool, response: predict | proba}`, a metric `f(y_true, y_pred)` of the team's own.

`cv` is a number of folds (stratified for classification, as scikit-learn does), or
`{type: kfold | stratified | group | stratified_group | time_series, folds: N, groups:
COLUMN}`. The group types keep each value of the `groups` column in one fold; that column
is then not a feature. `time_series` trains on earlier rows (in table order) and scores later.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CV_TYPES = ("kfold", "stratified", "group", "stratified_group", "time_series")
RESPONSES = ("predict", "proba")


def _whole(value: Any, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def check_cv(value: Any, where: str = "cv") -> str | None:
    """A problem with a `cv` value, or None."""
    if value is None or _whole(value, 2):
        return None
    usage = (f"'{where}' must be a number of folds (at least 2) or "
             f"{{type: {' | '.join(CV_TYPES)}, folds: N, groups: COLUMN}}")
    if not isinstance(value, Mapping) or set(value) - {"type", "folds", "groups"}:
        return usage
    kind = value.get("type", "kfold")
    if kind not in CV_TYPES or not _whole(value.get("folds", 5), 2):
        return usage
    grouped = kind in ("group", "stratified_group")
    if grouped != isinstance(value.get("groups"), str):
        return (f"'{where}': type {kind} needs 'groups' (a column)" if grouped else
                f"'{where}': 'groups' goes with type group or stratified_group")
    return None


def groups_column(value: Any) -> str | None:
    """The column a `cv` value groups by, if any."""
    return value.get("groups") if isinstance(value, Mapping) else None


def make_cv(value: Any, seed: int) -> Any:
    """The splitter (or number of folds) scikit-learn's `cv=` takes for a checked value."""
    from sklearn import model_selection as ms

    if not isinstance(value, Mapping):
        return int(value)
    folds, kind = int(value.get("folds", 5)), value.get("type", "kfold")
    return {"kfold": lambda: ms.KFold(folds, shuffle=True, random_state=seed),
            "stratified": lambda: ms.StratifiedKFold(folds, shuffle=True, random_state=seed),
            "group": lambda: ms.GroupKFold(folds),
            "stratified_group": lambda: ms.StratifiedGroupKFold(folds, shuffle=True,
                                                                random_state=seed),
            "time_series": lambda: ms.TimeSeriesSplit(folds)}[kind]()


def check_scoring(value: Any, where: str = "scoring") -> str | None:
    """A problem with a `scoring` value, or None (scorer names are checked here)."""
    if value is None:
        return None
    if isinstance(value, str):
        from sklearn.metrics import get_scorer_names

        from mlpipe.errors import did_you_mean

        names = get_scorer_names()
        return None if value in names else (
            f"'{where}': unknown scorer '{value}'{did_you_mean(value, names)}")
    if (not isinstance(value, Mapping) or set(value) - {"function", "greater_is_better",
                                                         "response"}
            or not isinstance(value.get("function"), str)
            or not isinstance(value.get("greater_is_better", True), bool)
            or value.get("response", "predict") not in RESPONSES):
        return (f"'{where}' is a scorer name (e.g. average_precision) or {{function: "
                "IMPORT.PATH, greater_is_better: true | false, response: predict | proba}")
    return None


def make_scoring(value: Any) -> Any:
    """What scikit-learn's `scoring=` takes for a checked value (None: the estimator's own).

    Raises:
        ValueError: The function cannot be imported or is not callable.
    """
    if value is None or isinstance(value, str):
        return value
    from sklearn.metrics import make_scorer

    from mlpipe.ml.estimators import resolve_value

    function = resolve_value(value["function"], 0, "scoring.function")
    if not callable(function):
        raise ValueError(f"scoring.function: cannot import {value['function']}")
    response = "predict_proba" if value.get("response") == "proba" else "predict"
    return make_scorer(function, greater_is_better=value.get("greater_is_better", True),
                       response_method=response)

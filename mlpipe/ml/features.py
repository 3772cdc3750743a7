"""Features declared per column (`features:`), defaults inferred for the others.

Roles: `numeric` (impute, scale), `categorical` (`encoding: onehot | ordinal`,
`max_categories: N` groups the rarest values into one), `text` (TF-IDF, `max_features: N`),
`datetime` (year, month, day, weekday, hour and days since the earliest training time,
imputed and scaled),
`id` and `ignore` (not features), and `custom` (`transformer: IMPORT.PATH`, `params:`).

A column that is not declared is numeric when its dtype is, else categorical, except that
one which looks like a timestamp, free text or an id gets that role and a warning naming
it, so the user can declare it. Every transformer is a step of the saved Pipeline: the
model takes raw rows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

ROLES = ("numeric", "categorical", "text", "datetime", "id", "ignore", "custom")
OPTIONS: dict[str, tuple[str, ...]] = {
    "categorical": ("encoding", "max_categories"), "text": ("max_features",),
    "custom": ("transformer", "params"),
}
_ID_NAME = re.compile(r"(^|_)(id|ID|Id|uuid|UUID|key)$|[a-z](Id|ID)$")
_SAMPLE = 1000


@dataclass(frozen=True)
class ColumnPlan:
    """What becomes of one column.

    Attributes:
        column: Its name.
        role: One of ROLES.
        options: The role's options as declared.
        inferred: The role was inferred (not declared) and is not the plain default.
    """

    column: str
    role: str
    options: Mapping[str, Any] = field(default_factory=dict)
    inferred: bool = False


def check(declared: Any) -> str | None:
    """A problem with a `features` mapping, or None."""
    if declared is None:
        return None
    if not isinstance(declared, Mapping):
        return "'features' maps each column to a role: " + ", ".join(ROLES)
    for column, spec in declared.items():
        role = spec.get("role") if isinstance(spec, Mapping) else spec
        if role not in ROLES:
            return f"features.{column}: role must be one of {', '.join(ROLES)}, not {role!r}"
        options = {k: v for k, v in spec.items() if k != "role"} if isinstance(
            spec, Mapping) else {}
        unknown = set(options) - set(OPTIONS.get(role, ()))
        if unknown:
            allowed = ", ".join(OPTIONS.get(role, ())) or "none"
            return f"features.{column}: unknown option '{sorted(unknown)[0]}' for {role} " \
                   f"(options: {allowed})"
        problem = _option_problem(column, role, options)
        if problem:
            return problem
    return None


def _option_problem(column: str, role: str, options: Mapping[str, Any]) -> str | None:
    for key in ("max_categories", "max_features"):
        value = options.get(key)
        if value is not None and not (isinstance(value, int) and not isinstance(value, bool)
                                      and value >= 2):
            return f"features.{column}: '{key}' must be a whole number, at least 2"
    if options.get("encoding", "onehot") not in ("onehot", "ordinal"):
        return f"features.{column}: 'encoding' must be onehot or ordinal"
    if role == "custom" and not isinstance(options.get("transformer"), str):
        return f"features.{column}: a custom role needs 'transformer: IMPORT.PATH'"
    return None


def plan(features: pd.DataFrame, declared: Mapping[str, Any] | None) -> list[ColumnPlan]:
    """The role of every column of the training features.

    Raises:
        ValueError: A declared column that the table does not have.
    """
    declared = dict(declared or {})
    missing = [c for c in declared if c not in features.columns]
    if missing:
        raise ValueError(f"features.{missing[0]}: no such column in the training data "
                         f"(columns: {', '.join(map(str, features.columns))})")
    plans = []
    for column in features.columns:
        spec = declared.get(column)
        if spec is None:
            plans.append(_infer(str(column), features[column]))
        elif isinstance(spec, Mapping):
            plans.append(ColumnPlan(str(column), spec["role"],
                                    {k: v for k, v in spec.items() if k != "role"}))
        else:
            plans.append(ColumnPlan(str(column), str(spec)))
    return plans


def warnings_of(plans: list[ColumnPlan]) -> list[str]:
    """One line per column whose role was inferred as datetime, text or id."""
    what = {"datetime": "a timestamp: calendar parts", "text": "free text: TF-IDF",
            "id": "an id: not a feature"}
    return [f"column '{p.column}' looks like {what[p.role]} (declare features.{p.column} "
            "to choose)" for p in plans if p.inferred]


def _infer(column: str, values: pd.Series) -> ColumnPlan:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(values):
        return ColumnPlan(column, "datetime", inferred=True)
    present = values.dropna()
    unique = len(present) >= 50 and present.nunique() == len(present)
    if pd.api.types.is_bool_dtype(values):
        return ColumnPlan(column, "numeric")
    if pd.api.types.is_numeric_dtype(values):
        whole = pd.api.types.is_integer_dtype(values)
        if whole and unique and _ID_NAME.search(column):
            return ColumnPlan(column, "id", inferred=True)
        return ColumnPlan(column, "numeric")
    sample = present.astype(str).head(_SAMPLE)
    if len(sample) and _parses_as_time(sample):
        return ColumnPlan(column, "datetime", inferred=True)
    words = sample.str.split().str.len().mean() if len(sample) else 0
    if len(sample) >= 20 and words >= 3 and present.nunique() > 0.5 * len(present):
        return ColumnPlan(column, "text", inferred=True)
    if unique:
        return ColumnPlan(column, "id", inferred=True)
    return ColumnPlan(column, "categorical")


def _parses_as_time(sample: pd.Series) -> bool:
    import pandas as pd

    if sample.str.fullmatch(r"[-+]?\d+(\.\d+)?").all():
        return False
    parsed = pd.to_datetime(sample, errors="coerce", format="ISO8601", utc=True)
    return bool(parsed.notna().mean() >= 0.95)


def transformers(plans: list[ColumnPlan], seed: int) -> list[tuple[str, Any, list[str]]]:
    """ColumnTransformer entries for the declared and inferred text, datetime, custom and
    non-default categorical columns (numeric and default categorical ones are grouped by
    the caller)."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    from mlpipe.ml.estimators import make_estimator

    entries: list[tuple[str, Any, list[str]]] = []
    for p in plans:
        if p.role == "text":
            import numpy as np
            from sklearn.feature_extraction.text import TfidfVectorizer
            from sklearn.preprocessing import FunctionTransformer

            step = make_pipeline(SimpleImputer(strategy="constant", fill_value=""),
                                 FunctionTransformer(np.ravel),
                                 TfidfVectorizer(max_features=p.options.get("max_features")))
        elif p.role == "datetime":
            from sklearn.preprocessing import StandardScaler

            from mlpipe.ml.dateparts import DateParts

            step = make_pipeline(DateParts(), SimpleImputer(strategy="median",
                                                            keep_empty_features=True),
                                 StandardScaler())
        elif p.role == "custom":
            step = make_estimator(str(p.options["transformer"]), p.options.get("params") or {},
                                  seed)
        elif p.role == "categorical" and p.options:
            step = _categorical(p.options)
        else:
            continue
        entries.append((f"{p.role}:{p.column}", step, [p.column]))
    return entries


def _categorical(options: Mapping[str, Any]) -> Any:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    cap = options.get("max_categories")
    if options.get("encoding", "onehot") == "ordinal":
        encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                 max_categories=cap)
    else:
        encoder = OneHotEncoder(handle_unknown="infrequent_if_exist" if cap else "ignore",
                                max_categories=cap)
    return make_pipeline(SimpleImputer(strategy="most_frequent"), encoder)

"""Data expectations: per-column checks, row counts, their validation, and inferring them.

Every check returns one report row: check, column, observed, threshold, passed, message.
pandas is imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

COLUMN_CHECKS = ("type", "not_null", "min", "max", "allowed", "unique", "regex")
TYPES = ("int", "float", "str", "bool", "category")
MAX_ALLOWED = 20  # infer `allowed` for a column with at most this many distinct values
MAX_LISTED = 10  # offending values named in a message


def native(value: Any) -> Any:
    """A JSON-friendly Python value: numpy scalars unwrapped, NaN and infinities as None."""
    if hasattr(value, "item") and not isinstance(value, list | dict | str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def report_row(check: str, column: str | None, observed: Any, threshold: Any, passed: bool,
               message: str) -> dict[str, Any]:
    """One row of a validation report."""
    return {"check": check, "column": column, "observed": observed, "threshold": threshold,
            "passed": bool(passed), "message": message}


def validate_rows(bounds: Any) -> None:
    """Raise ValueError unless `bounds` is {min, max} with whole numbers."""
    if not isinstance(bounds, Mapping) or not bounds or set(bounds) - {"min", "max"}:
        raise ValueError("'rows' must be a mapping with 'min' and/or 'max'")
    for key, value in bounds.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"rows: '{key}' must be a whole number >= 0, not {value!r}")


def validate_expectations(expectations: Any) -> None:
    """Raise ValueError naming the column and check when an expectation cannot work."""
    if not isinstance(expectations, Mapping):
        raise ValueError("'expectations' must map column -> checks, e.g. {x: {not_null: true}}")
    for column, checks in expectations.items():
        if not isinstance(checks, Mapping):
            raise ValueError(f"column '{column}': checks must be a mapping like "
                             "{type: float, min: 0}")
        for check, threshold in checks.items():
            problem = _threshold_problem(str(check), threshold)
            if problem:
                raise ValueError(f"column '{column}': {problem}")


def _threshold_problem(check: str, threshold: Any) -> str:
    if check not in COLUMN_CHECKS:
        from mlpipe.errors import did_you_mean

        return (f"unknown check '{check}'{did_you_mean(check, COLUMN_CHECKS)} "
                f"({', '.join(COLUMN_CHECKS)})")
    if check == "type" and threshold not in TYPES:
        return f"type must be one of {', '.join(TYPES)}, not {threshold!r}"
    if check in ("not_null", "unique") and not isinstance(threshold, bool):
        return f"{check} must be true or false"
    if check in ("min", "max") and (isinstance(threshold, bool)
                                    or not isinstance(threshold, int | float)):
        return f"{check} must be a number, not {threshold!r}"
    if check == "allowed" and not isinstance(threshold, list):
        return "allowed must be a list of values"
    if check == "regex":
        try:
            re.compile(str(threshold))
        except re.error as exc:
            return f"regex {threshold!r} is invalid: {exc}"
    return ""


def rows_check(data: pd.DataFrame, bounds: Mapping[str, Any]) -> dict[str, Any]:
    """The table-level row-count check."""
    low, high = bounds.get("min"), bounds.get("max")
    n = len(data)
    if low is not None and n < low:
        return report_row("rows", None, n, dict(bounds), False, f"rows: {n} < min {low}")
    if high is not None and n > high:
        return report_row("rows", None, n, dict(bounds), False, f"rows: {n} > max {high}")
    limits = ", ".join(f"{key} {value}" for key, value in bounds.items())
    return report_row("rows", None, n, dict(bounds), True, f"rows: {n} ({limits})")


def column_checks(data: pd.DataFrame, column: str, expected: Mapping[str, Any]
                  ) -> list[dict[str, Any]]:
    """The declared checks of one column (a missing column is one failed check)."""
    if column not in data.columns:
        return [report_row("present", column, False, True, False, f"column '{column}': missing")]
    values = data[column]
    rows = []
    for check, threshold in expected.items():
        observed, passed, text = _observe(values, check, threshold)
        rows.append(report_row(check, column, observed, threshold, passed,
                               f"column '{column}': {text}"))
    return rows


def _observe(values: pd.Series, check: str, threshold: Any) -> tuple[Any, bool, str]:
    """(observed, passed, message text) of one check on one column."""
    present = values.dropna()
    if check == "type":
        passed = type_matches(values, str(threshold))
        return str(values.dtype), passed, f"type {values.dtype} {'is' if passed else 'is not'} " \
                                          f"{threshold}"
    if check == "not_null":
        nulls = int(values.isna().sum())
        return nulls, not threshold or nulls == 0, f"{nulls} null values"
    if check == "unique":
        dupes = int(values.duplicated().sum())
        return dupes, not threshold or dupes == 0, f"{dupes} duplicate values"
    if check in ("min", "max"):
        return _bound(present, check, threshold)
    if check == "allowed":
        permitted = set(threshold)
        bad = sorted({str(v) for v in present if native(v) not in permitted})
        text = f"values not allowed: {', '.join(bad[:MAX_LISTED])}" if bad else \
            "every value allowed"
        return bad[:MAX_LISTED], not bad, text
    pattern = re.compile(str(threshold))
    bad = [str(v) for v in present if not pattern.fullmatch(str(v))]
    return len(bad), not bad, f"{len(bad)} values do not match /{threshold}/"


def _bound(present: pd.Series, check: str, threshold: float) -> tuple[Any, bool, str]:
    from pandas.api import types

    if not types.is_numeric_dtype(present.dtype) or types.is_bool_dtype(present.dtype):
        return None, False, f"{check} needs numbers, the column is {present.dtype}"
    if present.empty:
        return None, True, f"{check}: no values"
    observed = native(present.min() if check == "min" else present.max())
    passed = observed >= threshold if check == "min" else observed <= threshold
    op = {("min", True): ">=", ("min", False): "<", ("max", True): "<=", ("max", False): ">"}
    return observed, passed, f"{check} {observed:g} {op[check, passed]} {threshold}"


def type_matches(values: pd.Series, expected: str) -> bool:
    """Whether a column holds `expected` values (an int column with nulls reads as float)."""
    from pandas.api import types

    dtype, present = values.dtype, values.dropna()
    if types.is_bool_dtype(dtype):
        return expected in ("bool", "category")
    if expected == "bool":
        return types.is_object_dtype(dtype) and all(isinstance(v, bool) for v in present)
    if expected == "float":
        return types.is_numeric_dtype(dtype)
    if expected == "int":
        return types.is_integer_dtype(dtype) or (types.is_float_dtype(dtype)
                                                 and bool((present == present.round()).all()))
    is_text = types.is_string_dtype(values) and not isinstance(dtype, types.CategoricalDtype)
    if expected == "str":
        return is_text
    return is_text or isinstance(dtype, types.CategoricalDtype) or types.is_integer_dtype(dtype)


def type_name(values: pd.Series) -> str | None:
    """The expectation type that describes a column best (None when none does)."""
    from pandas.api import types

    dtype = values.dtype
    if types.is_bool_dtype(dtype):
        return "bool"
    if types.is_integer_dtype(dtype):
        return "int"
    if types.is_float_dtype(dtype):
        return "float"
    if isinstance(dtype, types.CategoricalDtype):
        return "category"
    return "str" if types.is_string_dtype(values) else None


def infer_expectations(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Expectations that `frame` meets: type, not_null, range, allowed values, uniqueness.

    Args:
        frame: The table to describe, usually a trusted reference batch.

    Returns:
        Column name -> checks, in the form the `expectations` field takes.
    """
    inferred: dict[str, dict[str, Any]] = {}
    for column in frame.columns:
        values = frame[column]
        present = values.dropna()
        kind = type_name(values)
        checks: dict[str, Any] = {"type": kind} if kind else {}
        if present.size == values.size:
            checks["not_null"] = True
        if kind in ("int", "float") and not present.empty:
            checks["min"], checks["max"] = native(present.min()), native(present.max())
        distinct = present.nunique()
        if kind in ("int", "str", "category", "bool") and 0 < distinct <= MAX_ALLOWED:
            checks["allowed"] = sorted((native(v) for v in present.unique()), key=str)
        elif kind in ("int", "str") and distinct == values.size > 1:
            checks["unique"] = True
        inferred[str(column)] = checks
    return inferred


def merge_expectations(*layers: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Column checks merged in order; a later layer's check replaces an earlier one's."""
    merged: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for column, checks in layer.items():
            merged.setdefault(str(column), {}).update(checks or {})
    return merged

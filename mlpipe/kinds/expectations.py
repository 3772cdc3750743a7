"""Data checks: per-column expectations, row counts, and distribution drift against a reference.

Every check returns one report row: check, column, observed, threshold, passed, message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

COLUMN_CHECKS = ("type", "not_null", "min", "max", "allowed", "unique", "regex")
TYPES = {"int": "iu", "float": "fiu", "str": "OSU", "bool": "b", "category": "OSUbiu"}


def _row(check: str, column: str | None, observed: Any, threshold: Any, passed: bool,
         message: str) -> dict[str, Any]:
    return {"check": check, "column": column, "observed": observed, "threshold": threshold,
            "passed": bool(passed), "message": message}


def rows_check(data: pd.DataFrame, bounds: Mapping[str, Any]) -> dict[str, Any]:
    low, high = bounds.get("min"), bounds.get("max")
    n = len(data)
    passed = (low is None or n >= low) and (high is None or n <= high)
    return _row("rows", None, n, {"min": low, "max": high}, passed,
                f"rows: {n} {'within' if passed else 'outside'} [{low}, {high}]")


def column_checks(data: pd.DataFrame, column: str, expected: Mapping[str, Any]
                  ) -> list[dict[str, Any]]:
    """The declared checks of one column (a missing column is one failed check)."""
    if column not in data.columns:
        return [_row("present", column, False, True, False, f"column '{column}': missing")]
    values = data[column]
    rows = []
    for check, threshold in expected.items():
        observed, passed, text = _observe(values, check, threshold)
        verdict = text if not passed else "ok"
        rows.append(_row(check, column, observed, threshold, passed,
                         f"column '{column}': {verdict}"))
    return rows


def _observe(values: pd.Series, check: str, threshold: Any) -> tuple[Any, bool, str]:
    present = values.dropna()
    if check == "type":
        kind = values.dtype.kind
        return str(values.dtype), kind in TYPES.get(str(threshold), ""), \
            f"type {values.dtype} is not {threshold}"
    if check == "not_null":
        nulls = int(values.isna().sum())
        return nulls, not threshold or nulls == 0, f"{nulls} null values"
    if check in ("min", "max"):
        if present.empty:
            return None, True, ""
        observed = float(present.min() if check == "min" else present.max())
        passed = observed >= threshold if check == "min" else observed <= threshold
        op = "<" if check == "min" else ">"
        return observed, passed, f"{check} {observed:g} {op} {threshold}"
    if check == "allowed":
        bad = sorted({str(v) for v in present if v not in set(threshold)})
        return bad, not bad, f"values not allowed: {', '.join(bad[:5])}"
    if check == "unique":
        dupes = int(values.duplicated().sum())
        return dupes, not threshold or dupes == 0, f"{dupes} duplicate values"
    pattern = re.compile(str(threshold))
    bad = [str(v) for v in present if not pattern.fullmatch(str(v))]
    return len(bad), not bad, f"{len(bad)} values do not match /{threshold}/"


def drift_checks(data: pd.DataFrame, reference: pd.DataFrame, spec: Mapping[str, Any]
                 ) -> list[dict[str, Any]]:
    """Per shared column: KS test (numeric) or chi-square (categorical); fail when p < threshold.
    """
    from scipy import stats

    threshold = float(spec.get("threshold", 0.05))
    columns = spec.get("columns") or [c for c in data.columns if c in reference.columns]
    rows = []
    for column in columns:
        new, old = data[column].dropna(), reference[column].dropna()
        if new.dtype.kind in "fiu" and old.dtype.kind in "fiu":
            test, p = "ks", float(stats.ks_2samp(new, old).pvalue)
        else:
            levels = sorted({*map(str, new), *map(str, old)})
            table = [[int((new.astype(str) == v).sum()) for v in levels],
                     [int((old.astype(str) == v).sum()) for v in levels]]
            test = "chi2"
            p = float(stats.chi2_contingency(table)[1]) if len(levels) > 1 else 1.0
        passed = p >= threshold
        rows.append(_row(f"drift_{test}", str(column), round(p, 6), threshold, passed,
                         f"column '{column}': drift {test.upper()} p={p:.3g} "
                         f"{'>=' if passed else '<'} {threshold}"))
    return rows

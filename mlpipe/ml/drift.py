"""Comparing a table with a reference: distribution drift (KS, chi-square, PSI) and skew.

Drift asks whether a column's values come from the reference's distribution; skew asks
whether two tables meant to match (train and test, training and serving data) differ in
columns, dtypes, missing values, unseen categories or mean. Every check is one report row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mlpipe.ml.expectations import native, report_row

if TYPE_CHECKING:
    import pandas as pd

NUMERIC_TESTS = ("ks", "psi")
CATEGORICAL_TESTS = ("chi2", "psi")
DEFAULT_THRESHOLDS = {"ks": 0.05, "chi2": 0.05, "psi": 0.2}
DRIFT_KEYS = ("numeric", "categorical", "threshold", "thresholds", "columns")
SKEW_DEFAULTS = {"null_rate": 0.1, "unseen": 0.01, "mean_shift": 0.5}
PSI_BINS = 10
PSI_FLOOR = 1e-4  # share given to an empty bin, so the logarithm stays finite


def validate_drift(spec: Any) -> None:
    """Raise ValueError when a `drift` field cannot work."""
    if spec is True:
        return
    if not isinstance(spec, Mapping):
        raise ValueError("'drift' must be true or a mapping {numeric, categorical, threshold}")
    unknown = sorted(set(spec) - set(DRIFT_KEYS))
    if unknown:
        raise ValueError(f"drift: unknown key '{unknown[0]}' ({', '.join(DRIFT_KEYS)})")
    numeric, categorical = _tests(spec)
    if numeric not in NUMERIC_TESTS:
        raise ValueError(f"drift: numeric must be one of {', '.join(NUMERIC_TESTS)}")
    if categorical not in CATEGORICAL_TESTS:
        raise ValueError(f"drift: categorical must be one of {', '.join(CATEGORICAL_TESTS)}")
    families = {test == "psi" for test in (numeric, categorical)}
    if "threshold" in spec and len(families) > 1:
        raise ValueError("drift: 'threshold' is a p-value for ks/chi2 but a PSI for psi; "
                         "give 'thresholds: {ks: 0.05, psi: 0.2}' instead")
    named = spec.get("thresholds") or {}
    if not isinstance(named, Mapping) or set(named) - set(DEFAULT_THRESHOLDS):
        raise ValueError("drift: 'thresholds' maps ks, chi2 or psi to a number")
    thresholds = {**({"threshold": spec["threshold"]} if "threshold" in spec else {}), **named}
    for name, value in thresholds.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"drift: '{name}' must be a number >= 0, not {value!r}")
    _check_columns("drift", spec)


def validate_skew(spec: Any) -> None:
    """Raise ValueError when a `skew` field cannot work."""
    if spec is True:
        return
    if not isinstance(spec, Mapping):
        raise ValueError("'skew' must be true or a mapping {null_rate, unseen, mean_shift}")
    keys = (*SKEW_DEFAULTS, "columns")
    unknown = sorted(set(spec) - set(keys))
    if unknown:
        raise ValueError(f"skew: unknown key '{unknown[0]}' ({', '.join(keys)})")
    for name in SKEW_DEFAULTS:
        value = spec.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"skew: '{name}' must be a number >= 0, not {value!r}")
    _check_columns("skew", spec)


def _check_columns(field: str, spec: Mapping[str, Any]) -> None:
    columns = spec.get("columns")
    if columns is not None and not (isinstance(columns, list) and columns):
        raise ValueError(f"{field}: 'columns' must be a non-empty list of column names")


def _tests(spec: Mapping[str, Any]) -> tuple[str, str]:
    return spec.get("numeric", "ks"), spec.get("categorical", "chi2")


def _threshold(spec: Mapping[str, Any], test: str) -> float:
    named = dict(spec.get("thresholds") or {})
    return float(named.get(test, spec.get("threshold", DEFAULT_THRESHOLDS[test])))


def _is_numeric(values: pd.Series) -> bool:
    from pandas.api import types

    return types.is_numeric_dtype(values.dtype) and not types.is_bool_dtype(values.dtype)


def _columns(data: pd.DataFrame, reference: pd.DataFrame, spec: Mapping[str, Any]) -> list[str]:
    listed = spec.get("columns")
    if listed:
        return [str(c) for c in listed]
    return [str(c) for c in data.columns if c in reference.columns]


def drift_checks(data: pd.DataFrame, reference: pd.DataFrame, spec: Mapping[str, Any] | bool
                 ) -> list[dict[str, Any]]:
    """One drift check per column shared with the reference (or per listed column).

    Args:
        data: The new batch.
        reference: The batch it should resemble.
        spec: The `drift` field: true, or {numeric: ks|psi, categorical: chi2|psi, threshold,
            thresholds: {test: value}, columns}.

    Returns:
        Report rows. KS and chi-square fail when p < threshold; PSI fails when PSI > threshold.
    """
    spec = spec if isinstance(spec, Mapping) else {}
    numeric, categorical = _tests(spec)
    rows = []
    for column in _columns(data, reference, spec):
        if column not in data.columns or column not in reference.columns:
            where = "data" if column not in data.columns else "reference"
            rows.append(report_row("drift", column, None, None, False,
                                   f"column '{column}': drift: not in {where}"))
            continue
        new, old = data[column].dropna(), reference[column].dropna()
        test = numeric if _is_numeric(new) and _is_numeric(old) else categorical
        rows.append(_drift_row(column, new, old, test, _threshold(spec, test)))
    return rows


def _drift_row(column: str, new: pd.Series, old: pd.Series, test: str, threshold: float
               ) -> dict[str, Any]:
    check = f"drift_{test}"
    if new.empty or old.empty:
        return report_row(check, column, None, threshold, False,
                          f"column '{column}': drift {test.upper()}: no values to compare")
    if test == "psi":
        value = psi(new, old, numeric=_is_numeric(new) and _is_numeric(old))
        passed = value <= threshold
        text = f"drift PSI {value:.3g} {'<=' if passed else '>'} {threshold:g}"
    else:
        value = ks_pvalue(new, old) if test == "ks" else chi2_pvalue(new, old)
        passed = value >= threshold
        text = f"drift {test.upper()} p={value:.3g} {'>=' if passed else '<'} {threshold:g}"
    return report_row(check, column, round(value, 6), threshold, passed,
                      f"column '{column}': {text}")


def ks_pvalue(new: pd.Series, old: pd.Series) -> float:
    """Two-sample Kolmogorov-Smirnov p-value."""
    from scipy import stats

    return float(stats.ks_2samp(new.to_numpy(float), old.to_numpy(float)).pvalue)


def chi2_pvalue(new: pd.Series, old: pd.Series) -> float:
    """Chi-square test of independence between the batch and the value counts."""
    from scipy import stats

    new_counts, old_counts = new.astype(str).value_counts(), old.astype(str).value_counts()
    levels = sorted({*new_counts.index, *old_counts.index})
    if len(levels) < 2:
        return 1.0
    table = [[int(new_counts.get(v, 0)) for v in levels], [int(old_counts.get(v, 0))
                                                          for v in levels]]
    return float(stats.chi2_contingency(table)[1])


def psi(new: pd.Series, old: pd.Series, numeric: bool) -> float:
    """Population stability index of `new` against `old` (deciles of `old` when numeric)."""
    import numpy as np

    if numeric:
        edges = np.unique(np.quantile(old.to_numpy(float), np.linspace(0, 1, PSI_BINS + 1)[1:-1]))
        expected = np.bincount(np.searchsorted(edges, old.to_numpy(float), side="right"),
                               minlength=edges.size + 1)
        actual = np.bincount(np.searchsorted(edges, new.to_numpy(float), side="right"),
                             minlength=edges.size + 1)
    else:
        levels = sorted({*map(str, new), *map(str, old)})
        expected = old.astype(str).value_counts().reindex(levels, fill_value=0).to_numpy()
        actual = new.astype(str).value_counts().reindex(levels, fill_value=0).to_numpy()
    p = np.clip(actual / actual.sum(), PSI_FLOOR, None)
    q = np.clip(expected / expected.sum(), PSI_FLOOR, None)
    return float(np.sum((p - q) * np.log(p / q)))


def skew_checks(data: pd.DataFrame, reference: pd.DataFrame, spec: Mapping[str, Any] | bool
                ) -> list[dict[str, Any]]:
    """Skew between two tables that should match: columns, then per-column dtype, null rate,
    unseen categories (share of values the reference never has) and standardised mean shift.

    Args:
        data: The table checked, e.g. the training split.
        reference: The table it should match, e.g. the test split or serving data.
        spec: The `skew` field: true, or {null_rate, unseen, mean_shift, columns}.

    Returns:
        Report rows.
    """
    spec = spec if isinstance(spec, Mapping) else {}
    limits = {name: float(spec.get(name, default)) for name, default in SKEW_DEFAULTS.items()}
    missing = [str(c) for c in reference.columns if c not in data.columns]
    extra = [str(c) for c in data.columns if c not in reference.columns]
    text = (f"skew: columns missing from data: {', '.join(missing) or 'none'}; "
            f"not in reference: {', '.join(extra) or 'none'}")
    rows = [report_row("skew_columns", None, {"missing": missing, "extra": extra},
                       {"missing": [], "extra": []}, not (missing or extra), text)]
    for column in _columns(data, reference, spec):
        if column in data.columns and column in reference.columns:
            rows += _skew_column(column, data[column], reference[column], limits)
    return rows


def _skew_column(column: str, new: pd.Series, old: pd.Series, limits: Mapping[str, float]
                 ) -> list[dict[str, Any]]:
    def row(check: str, observed: Any, limit: Any, passed: bool, text: str) -> dict[str, Any]:
        return report_row(f"skew_{check}", column, observed, limit, passed,
                          f"column '{column}': skew {text}")

    same = str(new.dtype) == str(old.dtype)
    rows = [row("dtype", str(new.dtype), str(old.dtype), same,
                f"dtype {new.dtype} {'==' if same else '!='} {old.dtype} in reference")]
    rate_new, rate_old = float(new.isna().mean()), float(old.isna().mean())
    diff = abs(rate_new - rate_old)
    ok = diff <= limits["null_rate"]
    rows.append(row("null_rate", round(diff, 6), limits["null_rate"], ok,
                    f"null rate {rate_new:.3g} vs {rate_old:.3g} in reference "
                    f"(difference {diff:.3g} {'<=' if ok else '>'} {limits['null_rate']:g})"))
    new, old = new.dropna(), old.dropna()
    if _is_numeric(new) and _is_numeric(old):
        shift, ok, text = _mean_shift(new, old, limits["mean_shift"])
        rows.append(row("mean_shift", shift, limits["mean_shift"], ok, text))
    elif not new.empty:
        seen = set(map(str, old))
        share = float(sum(str(v) not in seen for v in new) / len(new))
        ok = share <= limits["unseen"]
        rows.append(row("unseen", round(share, 6), limits["unseen"], ok,
                        f"{share:.1%} of values unseen in reference "
                        f"({'<=' if ok else '>'} {limits['unseen']:.1%})"))
    return rows


def _mean_shift(new: pd.Series, old: pd.Series, limit: float) -> tuple[float | None, bool, str]:
    """(shift, passed, text): the mean difference in standard deviations of the reference."""
    if new.empty or old.empty:
        return None, False, "mean shift: no values to compare"
    spread = float(old.astype(float).std(ddof=0))
    delta = abs(float(new.astype(float).mean()) - float(old.astype(float).mean()))
    shift = delta / spread if spread > 0 else (0.0 if delta == 0 else float("inf"))
    ok = shift <= limit
    return native(round(shift, 6)), ok, f"mean shift {shift:.3g} std {'<=' if ok else '>'} " \
                                        f"{limit:g}"

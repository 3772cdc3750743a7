"""Checking request rows against a model's signature (`model_meta["features"]`).

Rows become a DataFrame only when every row has exactly the model's feature columns, each
value of the column's type and inside the range of the column's dtype: an int64 column takes
neither 2**63 nor 1e19 (nothing is ever wrapped or cast silently), a float32 column takes
nothing beyond float32's range, and no float column takes an infinity. Unknown columns are
rejected rather than ignored: a typo in a column name would otherwise surface as a confusing
"missing column" or, worse, as a silently imputed value. Nulls (and NaN) are missing values
(the model's pipeline may impute them).

The check is vectorised per column: each column is converted by numpy/pandas at once and its
range checked on the array; only a column that fails (or holds values pandas cannot type) is
walked value by value, to name the first offending record.

This module imports nothing from mlpipe, so bundles can ship it as is; numpy and pandas are
imported inside the functions that need them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

MAX_SHOWN = 5
# From this magnitude on, float64 may have rounded an integer (2**53 + 1 becomes 2**53), so a
# float64 array that pandas inferred for an int column is re-checked from the values sent.
_EXACT_FLOAT_INT = 2**53


class InputError(ValueError):
    """A request the model cannot take; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class HugeNumber:
    """A JSON integer literal too long for Python to convert (kept as its text).

    Attributes:
        text: The literal.
    """

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def json_type(value: Any) -> str:
    """How a decoded JSON value reads in a message ("a string", "a number", ...)."""
    if isinstance(value, HugeNumber):
        return f"a {len(value.text.lstrip('-'))}-digit number"
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
             int: "a number", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def kind_of(dtype: str) -> str:
    """The JSON kind a pandas dtype takes: float, int, bool, str or any."""
    text = dtype.lower()
    if text.startswith(("float", "double")):
        return "float"
    if text.startswith(("int", "uint")):
        return "int"
    if text.startswith(("bool", "boolean")):
        return "bool"
    if text in ("object", "string", "str", "category") or text.startswith("string"):
        return "str"
    return "any"


class Column:
    """One feature of the signature: its name, kind and numpy dtype with its range.

    Attributes:
        name: The column's name.
        kind: float, int, bool, str or any (see `kind_of`).
        dtype: The numpy dtype numbers are converted to (float64/int64 when unknown).
        low: The smallest value the dtype holds (numbers only).
        high: The largest value the dtype holds (numbers only).
    """

    def __init__(self, name: str, dtype: str) -> None:
        import numpy as np

        self.name = name
        self.kind = kind_of(dtype)
        self.dtype: Any = None
        self.low: int | float = 0
        self.high: int | float = 0
        if self.kind in ("int", "float"):
            default = "int64" if self.kind == "int" else "float64"
            try:
                self.dtype = np.dtype(dtype.lower())
            except TypeError:
                self.dtype = np.dtype(default)
            if self.dtype.kind not in "iuf":  # e.g. pandas' "Int64": its numpy base
                self.dtype = np.dtype(default)
            info = np.iinfo(self.dtype) if self.kind == "int" else np.finfo(self.dtype)
            self.low, self.high = (int(info.min), int(info.max)) if self.kind == "int" else (
                float(info.min), float(info.max))

    def problem(self, value: Any) -> str | None:
        """Why `value` does not fit this column, or None when it does (missing values fit)."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        if isinstance(value, HugeNumber):
            return "out of range" if self.kind in ("int", "float", "any") else "wrong type"
        if isinstance(value, dict | list) or (self.kind == "any"):
            return None if self.kind == "any" else "wrong type"
        if self.kind == "bool":
            return None if isinstance(value, bool) else "wrong type"
        if self.kind == "str":
            return None if isinstance(value, str) else "wrong type"
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "wrong type"
        if self.kind == "float":
            try:
                number = float(value)
            except OverflowError:
                return "out of range"
            if math.isinf(number):
                return "not finite"
            return None if self.low <= number <= self.high else "out of range"
        if isinstance(value, float) and not value.is_integer():
            return "not finite" if math.isinf(value) else "wrong type"
        return None if self.low <= value <= self.high else "out of range"

    def error(self, index: int, value: Any) -> InputError:
        """The 422 for `value` at record `index`."""
        reason = self.problem(value)
        shown = (value.text[:40] + "...") if isinstance(value, HugeNumber) else (
            json.dumps(value)[:40] if _json_safe(value) else repr(value)[:40])
        got = f"got {json_type(value)} {shown}"
        if reason == "out of range" and self.dtype is None:
            got += ", out of range"
        elif reason == "out of range":
            got += f", outside {self.dtype.name}'s range [{self.low:g}, {self.high:g}]"
        elif reason == "not finite":
            got += " (a finite number is required)"
        return InputError(f"record {index}: column '{self.name}' expects {self.kind}, {got}")


def _json_safe(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (ValueError, TypeError):
        return False
    return True


def columns_of(features: Sequence[Mapping[str, Any]]) -> list[Column]:
    """The signature's columns, in order."""
    return [Column(str(f["name"]), str(f.get("dtype", ""))) for f in features]


def _first_bad(column: Column, values: Sequence[Any]) -> InputError | None:
    for i, value in enumerate(values):
        if column.problem(value) is not None:
            return column.error(i, value)
    return None


def _convert_slowly(column: Column, values: Sequence[Any]) -> Any:
    """Values already checked one by one, as a Series of the column's dtype."""
    import pandas as pd

    if column.kind not in ("int", "float"):
        return pd.Series(list(values), dtype=object)
    missing = [v is None or (isinstance(v, float) and math.isnan(v)) for v in values]
    if column.kind == "int" and not any(missing):
        return pd.Series([int(v) for v in values], dtype=column.dtype)
    target = column.dtype if column.kind == "float" else "float64"
    return pd.Series([math.nan if m else float(v) for v, m in zip(values, missing, strict=True)],
                     dtype=target)


def _fast(column: Column, series: pd.Series) -> pd.Series | None:
    """The column converted at once, or None when it must be checked value by value."""
    import numpy as np
    import pandas as pd

    dtype = series.dtype
    if column.kind == "any":
        return series
    if column.kind == "str":
        if pd.api.types.is_string_dtype(dtype) and (
                dtype.kind != "O" or pd.api.types.infer_dtype(series, skipna=True)
                in ("string", "empty")):
            return series
        return None
    if column.kind == "bool":
        return series if dtype.kind == "b" else None
    if dtype.kind not in "iuf":
        if dtype.kind == "O" and pd.api.types.infer_dtype(series, skipna=False) == "empty":
            return series.astype("float64")  # all missing
        return None
    if column.kind == "float":
        values = series.to_numpy(dtype="float64")
        if not (np.isfinite(values) | np.isnan(values)).all():
            return None
        if column.dtype != np.float64 and not (np.abs(values[~np.isnan(values)])
                                               <= column.high).all():
            return None
        return series.astype(column.dtype)
    if dtype.kind == "f":
        values = series.to_numpy()
        present = values[~np.isnan(values)]
        if present.size and not ((present == np.floor(present)).all()
                                 and present.min() > max(column.low - 1, -_EXACT_FLOAT_INT)
                                 and present.max() < min(column.high + 1, _EXACT_FLOAT_INT)):
            return None
        return series if present.size < values.size else series.astype(column.dtype)
    if len(series) and not (column.low <= int(series.min()) and int(series.max()) <= column.high):
        return None
    return series.astype(column.dtype)


def check_column(column: Column, values: Sequence[Any]) -> pd.Series:
    """One column's values (as sent, in record order) as a Series fit for the model.

    Raises:
        InputError: (422) A value of the wrong type or outside the dtype's range, naming the
            first such record and the column.
    """
    import pandas as pd

    series = values if isinstance(values, pd.Series) else _infer(values)
    if series is not None:
        converted = _fast(column, series)
        if converted is not None:
            return converted.reset_index(drop=True)
    raw = values.tolist() if isinstance(values, pd.Series) else values
    bad = _first_bad(column, raw)
    if bad is not None:
        raise bad
    return _convert_slowly(column, raw)


def _infer(values: Sequence[Any]) -> pd.Series | None:
    """pandas' inference of a list of decoded JSON values (None when it cannot hold them)."""
    import pandas as pd

    try:
        return pd.Series(values)
    except (ValueError, TypeError, OverflowError):
        return None


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(f"'{n}'" for n in names[:MAX_SHOWN])
    return shown + (f" and {len(names) - MAX_SHOWN} more" if len(names) > MAX_SHOWN else "")


def _record_error(i: int, record: Any, names: Sequence[str]) -> InputError:
    if not isinstance(record, dict):
        return InputError(f"record {i} must be an object {{column: value}}, "
                          f"not {json_type(record)}")
    missing = [name for name in names if name not in record]
    if missing:
        return InputError(f"record {i}: missing column(s) {_names(missing)}")
    unknown = [name for name in record if name not in names]
    return InputError(f"record {i}: unknown column(s) {_names(unknown)}; the model takes "
                      f"{_names(list(names))}")


def check_columns(data: Mapping[str, Sequence[Any]], features: Sequence[Mapping[str, Any]]
                  ) -> pd.DataFrame:
    """Columns of values (as sent) as a DataFrame of the model's features, in order.

    Args:
        data: {column: values in record order}; every column equally long.
        features: The model's signature, `[{"name", "dtype"}]`.

    Returns:
        A DataFrame the model's pipeline can take.

    Raises:
        InputError: (422) No rows, a missing or unknown column, or a value that does not fit.
    """
    import pandas as pd

    columns = columns_of(features)
    names = [c.name for c in columns]
    missing = [name for name in names if name not in data]
    if missing:
        raise InputError(f"missing column(s) {_names(missing)}")
    unknown = [name for name in data if name not in names]
    if unknown:
        raise InputError(f"unknown column(s) {_names(unknown)}; the model takes "
                         f"{_names(names)}")
    rows = len(data[names[0]]) if names else 0
    if not rows:
        raise InputError("no records to predict: send at least one")
    return pd.DataFrame({c.name: check_column(c, data[c.name]) for c in columns},
                        columns=names)


def check_records(records: list[Any], features: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Records ({column: value}) as a DataFrame of the model's features, in order.

    Args:
        records: Decoded JSON records.
        features: The model's signature, `[{"name", "dtype"}]`.

    Returns:
        A DataFrame the model's pipeline can take, each column of its dtype.

    Raises:
        InputError: (422) No records, or a record that does not fit the signature (naming the
            record and, for a value, the column).
    """
    if not records:
        raise InputError("no records to predict: send at least one")
    names = [str(f["name"]) for f in features]
    expected = dict.fromkeys(names).keys()
    if not all(type(r) is dict and r.keys() == expected for r in records):
        for i, record in enumerate(records):
            if not isinstance(record, dict) or record.keys() != expected:
                raise _record_error(i, record, names)
    return check_columns({name: [r[name] for r in records] for name in names}, features)

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
from operator import itemgetter
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
    """Values already checked one by one, as an array of the column's dtype."""
    import numpy as np

    if column.kind not in ("int", "float"):
        return np.array(list(values), dtype=object)
    missing = [v is None or (isinstance(v, float) and math.isnan(v)) for v in values]
    if column.kind == "int" and not any(missing):
        return np.array([int(v) for v in values], dtype=column.dtype)
    target = column.dtype if column.kind == "float" else "float64"
    return np.array([math.nan if m else float(v) for v, m in zip(values, missing, strict=True)],
                    dtype=target)


_NUMERIC = ("integer", "floating", "mixed-integer-float", "empty")


def _fast(column: Column, values: list[Any]) -> Any:
    """The column converted at once (an array), or None when it must be checked value by
    value (a value of another type, outside the range, or one numpy could not convert)."""
    import numpy as np
    import pandas as pd

    if column.kind == "any":
        return pd.Series(values).to_numpy()
    inferred = pd.api.types.infer_dtype(values, skipna=True)
    if column.kind == "str":
        return np.array(values, dtype=object) if inferred in ("string", "empty") else None
    if column.kind == "bool":
        if inferred == "boolean" and None not in values:
            return np.array(values, dtype=bool)
        return None
    if inferred not in _NUMERIC:
        return None
    if column.kind == "int" and inferred == "integer" and None not in values:
        try:
            return np.array(values, dtype=column.dtype)
        except (OverflowError, TypeError, ValueError):
            return None
    try:
        array = np.array(values, dtype="float64")
    except (OverflowError, TypeError, ValueError):
        return None
    present = array[~np.isnan(array)]
    if column.kind == "float":
        if not np.isfinite(present).all():
            return None
        if column.dtype != np.float64 and present.size and np.abs(present).max() > column.high:
            return None
        return array.astype(column.dtype, copy=False)
    if present.size and not ((present == np.floor(present)).all()
                             and present.min() > max(column.low - 1, -_EXACT_FLOAT_INT)
                             and present.max() < min(column.high + 1, _EXACT_FLOAT_INT)):
        return None
    return array if present.size < array.size else array.astype(column.dtype)


def check_column(column: Column, values: Sequence[Any]) -> Any:
    """One column's values (as sent, in record order) as an array fit for the model.

    Raises:
        InputError: (422) A value of the wrong type or outside the dtype's range, naming the
            first such record and the column.
    """
    raw = values.tolist() if hasattr(values, "tolist") else list(values)
    converted = _fast(column, raw)
    if converted is not None:
        return converted
    bad = _first_bad(column, raw)
    if bad is not None:
        raise bad
    return _convert_slowly(column, raw)


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
    arrays = [check_column(c, data[c.name]) for c in columns]
    if len({a.dtype for a in arrays}) == 1 and arrays[0].dtype.kind in "iufb":
        import numpy as np

        return pd.DataFrame(np.column_stack(arrays), columns=names)  # one block: cheapest
    return pd.DataFrame(dict(zip(names, arrays, strict=True)), columns=names)


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
    try:  # map() keeps the loop in C; dict.keys raises TypeError for a record that is no object
        fitting = all(map(expected.__eq__, map(dict.keys, records)))
    except TypeError:
        fitting = False
    if not fitting:
        for i, record in enumerate(records):
            if not isinstance(record, dict) or record.keys() != expected:
                raise _record_error(i, record, names)
    return check_columns({name: list(map(itemgetter(name), records)) for name in names},
                         features)

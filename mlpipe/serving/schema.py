"""Checking request bodies against a model's signature (`model_meta["features"]`).

A request is turned into rows only when every row has exactly the model's feature columns,
each value of the column's type. Unknown columns are rejected rather than ignored: a typo in
a column name would otherwise surface as a confusing "missing column" or, worse, as a silently
imputed value. Nulls are accepted as missing values (the model's pipeline may impute them).

This module imports nothing from mlpipe, so bundles can ship it as is; pandas is imported
inside the function that needs it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

MAX_SHOWN = 5


class InputError(ValueError):
    """A request the model cannot take; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _reject_constant(name: str) -> Any:
    raise InputError(f"malformed JSON: {name} is not valid JSON", 400)


def parse_json(body: bytes) -> Any:
    """The JSON value of a request body.

    Args:
        body: The raw body.

    Returns:
        The decoded value.

    Raises:
        InputError: (400) The body is empty, not UTF-8, not valid JSON, or nested too deeply.
    """
    if not body.strip():
        raise InputError("empty request body: send a JSON object", 400)
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise InputError("request body is not UTF-8 text", 400) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                         400) from None
    except RecursionError:
        raise InputError("malformed JSON: nested too deeply", 400) from None


def predict_records(payload: Any) -> list[Any]:
    """The records of a `/predict` body: `{"records": [...]}` or a bare list of records.

    Raises:
        InputError: (400) Any other shape.
    """
    if isinstance(payload, list):
        return payload
    if not isinstance(payload, dict):
        raise InputError(f"body must be a JSON object with 'records' or a list of records, "
                         f"not {_json_type(payload)}", 400)
    if "records" not in payload:
        raise InputError("body has no 'records' field: send {\"records\": [{column: value}]}",
                         400)
    extra = sorted(set(payload) - {"records"})
    if extra:
        raise InputError(f"unknown field(s) in body: {', '.join(extra)} (expected 'records')",
                         400)
    if not isinstance(payload["records"], list):
        raise InputError(f"'records' must be a list, not {_json_type(payload['records'])}", 400)
    return payload["records"]


def invocation_records(payload: Any) -> list[Any]:
    """The records of an MLflow-style `/invocations` body.

    Accepts `{"dataframe_split": {"columns": [...], "data": [[...]]}}` and
    `{"dataframe_records": [...]}`.

    Raises:
        InputError: (400) Any other shape.
    """
    formats = ("dataframe_split", "dataframe_records")
    if not isinstance(payload, dict):
        raise InputError(f"body must be a JSON object with one of {', '.join(formats)}, "
                         f"not {_json_type(payload)}", 400)
    given = [key for key in formats if key in payload]
    if len(given) != 1 or len(payload) != 1:
        raise InputError(f"body must have exactly one field, one of {', '.join(formats)} "
                         f"(got: {', '.join(sorted(payload)) or 'none'})", 400)
    if given[0] == "dataframe_records":
        records = payload["dataframe_records"]
        if not isinstance(records, list):
            raise InputError("'dataframe_records' must be a list of objects", 400)
        return records
    return _split_records(payload["dataframe_split"])


def _split_records(split: Any) -> list[dict[str, Any]]:
    """Records from `{"columns": [...], "data": [[...]]}` (an `index` field is ignored)."""
    if not isinstance(split, dict):
        raise InputError("'dataframe_split' must be an object with 'columns' and 'data'", 400)
    columns, data = split.get("columns"), split.get("data")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise InputError("'dataframe_split.columns' must be a list of column names", 400)
    if len(set(columns)) != len(columns):
        raise InputError("'dataframe_split.columns' names a column twice", 400)
    if not isinstance(data, list):
        raise InputError("'dataframe_split.data' must be a list of rows", 400)
    records = []
    for i, row in enumerate(data):
        if not isinstance(row, list) or len(row) != len(columns):
            raise InputError(f"'dataframe_split.data' row {i} must be a list of "
                             f"{len(columns)} values (one per column)", 400)
        records.append(dict(zip(columns, row, strict=True)))
    return records


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
             int: "a number", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _kind(dtype: str) -> str:
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


def _value_ok(kind: str, value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, dict | list):
        return False
    if kind == "float":
        return (isinstance(value, int | float) and not isinstance(value, bool)
                and math.isfinite(value))
    if kind == "int":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    return True


def _check_record(i: int, record: Any, kinds: Mapping[str, str]) -> None:
    if not isinstance(record, dict):
        raise InputError(f"record {i} must be an object {{column: value}}, "
                         f"not {_json_type(record)}")
    missing = [name for name in kinds if name not in record]
    if missing:
        raise InputError(f"record {i}: missing column(s) {_names(missing)}")
    unknown = [name for name in record if name not in kinds]
    if unknown:
        raise InputError(f"record {i}: unknown column(s) {_names(unknown)}; the model takes "
                         f"{_names(list(kinds))}")
    for name, kind in kinds.items():
        value = record[name]
        if not _value_ok(kind, value):
            raise InputError(f"record {i}: column '{name}' expects {kind}, "
                             f"got {_json_type(value)} {json.dumps(value)[:40]}")


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(f"'{n}'" for n in names[:MAX_SHOWN])
    return shown + (f" and {len(names) - MAX_SHOWN} more" if len(names) > MAX_SHOWN else "")


def check_records(records: list[Any], features: Sequence[Mapping[str, str]]) -> pd.DataFrame:
    """The records as a DataFrame of the model's features, in order, with their dtypes.

    Args:
        records: Decoded JSON records ({column: value}).
        features: The model's signature, `[{"name", "dtype"}]`.

    Returns:
        A DataFrame the model's pipeline can take.

    Raises:
        InputError: (422) No records, or a record that does not fit the signature.
    """
    import pandas as pd

    if not records:
        raise InputError("no records to predict: send at least one")
    kinds = {f["name"]: _kind(str(f.get("dtype", ""))) for f in features}
    for i, record in enumerate(records):
        _check_record(i, record, kinds)
    frame = pd.DataFrame.from_records(records, columns=list(kinds))
    for name, kind in kinds.items():
        column = frame[name]
        if kind == "float" or (kind == "int" and column.isna().any()):
            frame[name] = column.astype("float64")
        elif kind == "int":
            frame[name] = column.astype("int64")
        elif kind == "bool" and not column.isna().any():
            frame[name] = column.astype("bool")
    return frame

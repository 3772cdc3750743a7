"""Request bodies into rows: JSON (mlpipe's and every MLflow form), CSV and Parquet.

`/predict` takes `{"records": [...]}` or a bare list of records. `/invocations` takes what
MLflow's scoring server takes, chosen by Content-Type: JSON with exactly one of
`dataframe_split`, `dataframe_records`, `instances` or `inputs` (plus an optional `params`
object), `text/csv` (a header row, then one row per record) or
`application/vnd.apache.parquet`. JSON's `NaN` token (which MLflow's client writes for a
missing value) is a missing value; `Infinity` is parsed so the signature check can name it.

This module imports nothing from mlpipe, so bundles can ship it as is; pandas is imported
inside the functions that need it.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .schema import Column, HugeNumber, InputError, check_columns, check_records, columns_of
from .schema import json_type as _json_type

if TYPE_CHECKING:
    import pandas as pd

JSON = "application/json"
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
CONTENT_TYPES = (JSON, CSV, PARQUET)
FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_CONSTANTS = {"NaN": None, "Infinity": math.inf, "-Infinity": -math.inf}
# Python refuses to convert longer integer literals (sys.get_int_max_str_digits).
_INT_DIGITS = 4300


@dataclass(frozen=True)
class Rows:
    """Decoded rows, either as records or as columns (whichever the body held).

    Attributes:
        records: [{column: value}], or None when the body held columns.
        columns: {column: values}, or None when the body held records.
        params: The MLflow `params` object (empty when none was sent).
    """

    records: list[Any] | None = None
    columns: Mapping[str, Sequence[Any]] | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    def frame(self, features: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
        """The rows checked against the signature (see `schema`)."""
        if self.records is not None:
            return check_records(self.records, features)
        return check_columns(self.columns or {}, features)

    def as_records(self) -> list[dict[str, Any]]:
        """The rows as records, for the prediction log."""
        if self.records is not None:
            return self.records
        columns = self.columns or {}
        names = list(columns)
        values = [c.tolist() if hasattr(c, "tolist") else list(c) for c in columns.values()]
        return [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]


def _huge_int(text: str) -> Any:
    return int(text) if len(text) < _INT_DIGITS else HugeNumber(text)


def parse_json(body: bytes) -> Any:
    """The JSON value of a request body (`NaN` as null, `Infinity` as an infinite float).

    Raises:
        InputError: (400) The body is empty, not UTF-8, not valid JSON, or nested too deeply.
    """
    if not body.strip():
        raise InputError("empty request body: send a JSON object", 400)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("request body is not UTF-8 text", 400) from None
    try:
        try:
            return json.loads(text, parse_constant=_CONSTANTS.__getitem__)
        except ValueError as exc:
            if isinstance(exc, json.JSONDecodeError):
                raise
            # an integer literal past Python's digit limit: parse again, keeping it as text
            return json.loads(text, parse_constant=_CONSTANTS.__getitem__,
                              parse_int=_huge_int)
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                         400) from None
    except RecursionError:
        raise InputError("malformed JSON: nested too deeply", 400) from None


def predict_rows(payload: Any) -> Rows:
    """The rows of a `/predict` body: `{"records": [...]}` or a bare list of records.

    Raises:
        InputError: (400) Any other shape.
    """
    if isinstance(payload, list):
        return Rows(records=payload)
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
    return Rows(records=payload["records"])


def invocation_rows(payload: Any) -> Rows:
    """The rows of an MLflow JSON body (one of `FORMATS`, optionally with `params`).

    Raises:
        InputError: (400) Any other shape.
    """
    if not isinstance(payload, dict):
        raise InputError(f"body must be a JSON object with one of {', '.join(FORMATS)}, "
                         f"not {_json_type(payload)}", 400)
    given = [key for key in FORMATS if key in payload]
    extra = sorted(set(payload) - set(FORMATS) - {"params"})
    if len(given) != 1 or extra:
        raise InputError(f"body must have exactly one field, one of {', '.join(FORMATS)}, and "
                         f"optionally 'params' (got: {', '.join(sorted(payload)) or 'none'})",
                         400)
    params = payload.get("params")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise InputError(f"'params' must be an object, not {_json_type(params)}", 400)
    key = given[0]
    value = payload[key]
    if key == "dataframe_records":
        if not isinstance(value, list):
            raise InputError("'dataframe_records' must be a list of objects", 400)
        return Rows(records=value, params=params)
    if key == "dataframe_split":
        return Rows(columns=_split_columns(value), params=params)
    return Rows(**_tensor_rows(key, value), params=params)


def _split_columns(split: Any) -> dict[str, list[Any]]:
    """Columns from `{"columns": [...], "data": [[...]]}` (an `index` field is ignored)."""
    if not isinstance(split, dict):
        raise InputError("'dataframe_split' must be an object with 'columns' and 'data'", 400)
    columns, data = split.get("columns"), split.get("data")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise InputError("'dataframe_split.columns' must be a list of column names", 400)
    if len(set(columns)) != len(columns):
        raise InputError("'dataframe_split.columns' names a column twice", 400)
    if not isinstance(data, list):
        raise InputError("'dataframe_split.data' must be a list of rows", 400)
    width = len(columns)
    if not all(type(row) is list and len(row) == width for row in data):
        for i, row in enumerate(data):
            if not isinstance(row, list) or len(row) != width:
                raise InputError(f"'dataframe_split.data' row {i} must be a list of "
                                 f"{width} values (one per column)", 400)
    if not data:
        return {name: [] for name in columns}
    by_column = zip(*data, strict=True)
    return {name: list(values) for name, values in zip(columns, by_column, strict=True)}


def _tensor_rows(key: str, value: Any) -> dict[str, Any]:
    """`instances`/`inputs`: a list of records, or an object of equally long columns."""
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return {"records": value}
    if isinstance(value, dict):
        if all(not isinstance(v, list) for v in value.values()):
            return {"columns": {k: [v] for k, v in value.items()}}  # one row
        lengths = {len(v) if isinstance(v, list) else -1 for v in value.values()}
        if len(lengths) == 1 and -1 not in lengths:
            return {"columns": value}
        raise InputError(f"'{key}' as an object must map each column to a list of values, "
                         f"all equally long", 400)
    raise InputError(f"'{key}' must be a list of objects {{column: value}} or an object "
                     f"{{column: [values]}} (this model's inputs are named columns)", 400)


def _csv_value(column: Column, text: Any) -> Any:
    """A CSV cell as the value JSON would have given (empty cells are missing)."""
    if not isinstance(text, str) or text == "":
        return None
    if column.kind in ("int", "float"):
        try:
            return int(text)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            return text
    if column.kind == "bool":
        return {"true": True, "false": False}.get(text.strip().lower(), text)
    return text


def csv_rows(body: bytes, features: Sequence[Mapping[str, Any]]) -> Rows:
    """The rows of a CSV body (a header row naming the columns, then one row per record).

    Raises:
        InputError: (400) The body is not UTF-8 CSV with a header row.
    """
    import pandas as pd

    if not body.strip():
        raise InputError("empty request body: send CSV with a header row", 400)
    try:
        frame = pd.read_csv(io.BytesIO(body), dtype=str, keep_default_na=False,
                            encoding="utf-8")
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"malformed CSV: {first[:200]}", 400) from None
    kinds = {c.name: c for c in columns_of(features)}
    columns = {}
    for name in frame.columns:
        column = kinds.get(str(name), Column(str(name), "object"))
        columns[str(name)] = [_csv_value(column, v) for v in frame[name].tolist()]
    return Rows(columns=columns)


def parquet_rows(body: bytes) -> Rows:
    """The rows of a Parquet body (one column per feature).

    Raises:
        InputError: (400) The body is not a Parquet file.
    """
    import pandas as pd

    try:
        frame = pd.read_parquet(io.BytesIO(body))
    except Exception as exc:  # pyarrow raises many unrelated types for a damaged file
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"malformed Parquet: {first[:200]}", 400) from None
    return Rows(columns={str(name): frame[name] for name in frame.columns})


def media_type(header: str | None) -> str:
    """The media type of a Content-Type header (JSON when absent).

    Raises:
        InputError: (415) Not one of `CONTENT_TYPES`, or a charset other than UTF-8.
    """
    if not header:
        return JSON
    kind, *parameters = (part.strip() for part in header.split(";"))
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() != "utf-8":
            raise InputError(f"unsupported charset {value.strip()!r}: send UTF-8", 415)
    kind = kind.lower()
    if kind not in CONTENT_TYPES:
        raise InputError(f"unsupported Content-Type {kind!r}: send one of "
                         f"{', '.join(CONTENT_TYPES)}", 415)
    return kind


def invocation_body(body: bytes, content_type: str | None,
                    features: Sequence[Mapping[str, Any]]) -> Rows:
    """The rows of an `/invocations` body, by its Content-Type."""
    kind = media_type(content_type)
    if kind == CSV:
        return csv_rows(body, features)
    if kind == PARQUET:
        if not body:
            raise InputError("empty request body: send a Parquet file", 400)
        return parquet_rows(body)
    return invocation_rows(parse_json(body))

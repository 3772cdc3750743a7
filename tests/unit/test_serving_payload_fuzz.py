"""Fuzzing the serving payload checker: numbers at and past every dtype's limits, NaN and
Infinity tokens, huge literals and nesting. Every body is either taken with its values exact
or refused with a 4xx naming a record and a column that really hold a bad value."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mlpipe.serving.payload import invocation_rows, parse_json
from mlpipe.serving.schema import HugeNumber, InputError, check_records

INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
FLOAT_DTYPES = ("float16", "float32", "float64")
DTYPES = (*INT_DTYPES, *FLOAT_DTYPES, "bool", "object")


def _limits(dtype: str) -> tuple[Any, Any]:
    info = np.iinfo(dtype) if dtype in INT_DTYPES else np.finfo(dtype)
    return (int(info.min), int(info.max)) if dtype in INT_DTYPES else (
        float(info.min), float(info.max))


def _edges() -> list[Any]:
    """Numbers at and just past every dtype's limits, and a few far beyond."""
    values: list[Any] = [0, 1, -1, 0.5, 2**53 + 1, 2**63, 2**64, -(2**63) - 1, 10**400,
                         -(10**400), 1e19, -1e19, 1e300, -1e300, 1e308, math.inf, -math.inf]
    for dtype in INT_DTYPES:
        low, high = _limits(dtype)
        values += [low, high, low - 1, high + 1, float(low), float(high)]
    for dtype in FLOAT_DTYPES:
        low, high = _limits(dtype)
        values += [low, high, high * 1.01, low * 1.01, int(high), int(high) * 2]
    return values


LEAVES = st.one_of(st.sampled_from(_edges()), st.integers(), st.floats(allow_nan=False),
                   st.booleans(), st.none(), st.text(max_size=3))
VALUES = st.one_of(LEAVES, st.lists(LEAVES, max_size=2),
                   st.dictionaries(st.text(max_size=2), LEAVES, max_size=2))


def fits(dtype: str, value: Any) -> bool:
    """The oracle: whether `value` may go into a column of `dtype` (None is missing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    if dtype == "bool":
        return isinstance(value, bool)
    if dtype == "object":
        return isinstance(value, str)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    low, high = _limits(dtype)
    if dtype in INT_DTYPES:
        if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
            return False
        return low <= value <= high
    try:
        number = float(value)
    except OverflowError:
        return False
    return math.isfinite(number) and low <= number <= high


def _check(dtypes: list[str], rows: list[list[Any]]) -> None:
    features = [{"name": f"c{i}", "dtype": d} for i, d in enumerate(dtypes)]
    records = [{f"c{i}": v for i, v in enumerate(row)} for row in rows]
    bad = {(r, c) for r, row in enumerate(rows) for c, v in enumerate(row)
           if not fits(dtypes[c], v)}
    try:
        frame = check_records(records, features)
    except InputError as exc:
        assert exc.status == 422
        named = re.match(r"record (\d+): column 'c(\d+)'", exc.message)
        assert named, exc.message
        assert (int(named[1]), int(named[2])) in bad, (exc.message, bad)
        return
    assert not bad, f"accepted bad values at {sorted(bad)}"
    for c, dtype in enumerate(dtypes):
        column = frame[f"c{c}"].tolist()
        if dtype in FLOAT_DTYPES or (dtype in INT_DTYPES and None not in [r[c] for r in rows]):
            assert str(frame[f"c{c}"].dtype) == dtype
        for r, row in enumerate(rows):
            sent, got = row[c], column[r]
            if sent is None:
                assert got is None or (isinstance(got, float) and math.isnan(got))
            elif dtype in INT_DTYPES:
                assert got == sent  # exact: never wrapped
            elif dtype in FLOAT_DTYPES:
                assert got == float(np.array(float(sent), dtype=dtype))
            else:
                assert got == sent


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_check_records_takes_exact_values_or_names_a_bad_one(data: st.DataObject) -> None:
    dtypes = data.draw(st.lists(st.sampled_from(DTYPES), min_size=1, max_size=3))
    rows = data.draw(st.lists(st.lists(VALUES, min_size=len(dtypes), max_size=len(dtypes)),
                              min_size=1, max_size=6))
    _check(dtypes, rows)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(DTYPES), st.lists(st.sampled_from(_edges()), min_size=1, max_size=8))
@example("int64", [2**53 + 1, -128.0])  # pandas' float64 would round the first to 2**53
def test_every_limit_in_one_column(dtype: str, values: list[Any]) -> None:
    _check([dtype], [[v] for v in values])


TOKENS = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "9" * 5000,
                          "-" + "9" * 401, "18446744073709551616", "1.5", "null", "true",
                          '"x"', "[1]", '{"a": 1}', "[[[[]]]]"])


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(DTYPES), st.lists(TOKENS, min_size=1, max_size=5))
def test_json_tokens_are_parsed_then_checked_never_crash(dtype: str, tokens: list[str]
                                                          ) -> None:
    data = ", ".join(f"[{t}]" for t in tokens)
    body = f'{{"dataframe_split": {{"columns": ["x"], "data": [{data}]}}}}'.encode()
    rows = invocation_rows(parse_json(body))
    try:
        frame = rows.frame([{"name": "x", "dtype": dtype}])
    except InputError as exc:
        assert exc.status == 422 and re.match(r"record \d+: column 'x' expects", exc.message)
        index = int(re.match(r"record (\d+)", exc.message)[1])
        assert tokens[index] not in ("NaN", "null")  # a missing value is never the culprit
        return
    assert len(frame) == len(tokens)


def test_huge_literals_and_tokens_are_values_not_errors() -> None:
    payload = parse_json(b'[NaN, Infinity, -Infinity, ' + b"7" * 5000 + b", 12]")
    assert payload[0] is None and payload[1] == math.inf and payload[2] == -math.inf
    assert isinstance(payload[3], HugeNumber) and payload[4] == 12
    with pytest.raises(InputError, match=r"record 0: column 'n' expects int, got a 5000-digit"):
        check_records([{"n": payload[3]}], [{"name": "n", "dtype": "int64"}])


@pytest.mark.parametrize(("value", "dtype", "message"), [
    (2**64, "int64", r"record 1: column 'n' expects int, got a number 18446744073709551616, "
                     r"outside int64's range"),
    (1e19, "int64", r"record 1: column 'n' expects int, got a number 1e\+19, outside int64"),
    (-1e300, "int64", r"outside int64's range"),
    (10**400, "float64", r"record 1: column 'n' expects float, got a number 1000"),
    (1e39, "float32", r"outside float32's range"),
    (256, "uint8", r"outside uint8's range \[0, 255\]"),
    (-1, "uint64", r"outside uint64's range"),
])
def test_out_of_range_names_record_column_and_range(value: Any, dtype: str, message: str
                                                    ) -> None:
    with pytest.raises(InputError, match=message) as caught:
        check_records([{"n": 1}, {"n": value}], [{"name": "n", "dtype": dtype}])
    assert caught.value.status == 422


def test_deep_nesting_is_a_400() -> None:
    with pytest.raises(InputError, match="nested too deeply") as caught:
        parse_json(b"[" * 100_000 + b"]" * 100_000)
    assert caught.value.status == 400
    assert json.loads("[1]") == [1]

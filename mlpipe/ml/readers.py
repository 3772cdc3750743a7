"""Reading the table of an ingest stage so that bad data fails loudly and says where.

Every problem becomes a DataError naming the source and, where it can be known, the line, the
column and the value: a wrong delimiter or encoding, a row with extra fields, a value that is
not of its column's type, a truncated Parquet file, an invalid JSON line. Nothing is dropped or
coerced silently: pandas' bad-line handling stays "error", and the slow work of finding the
exact line is done only once something is known to be wrong.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpipe.errors import did_you_mean
from mlpipe.ml.dataio import DataError

if TYPE_CHECKING:
    import pandas as pd

SNIFF_LINES = 20  # lines csv.Sniffer looks at to guess the delimiter
SNIFF_DELIMITERS = ",;\t|"
# A text column is taken for a numeric one with bad values when at least this share of its
# first SAMPLE values are numbers; declare the column's dtype (e.g. str) to opt out.
NUMERIC_SHARE = 0.9
SAMPLE = 2000
TEXT_DTYPES = ("str", "string", "object", "category")  # handed to the CSV parser as they are
BOOLEANS = {"true": True, "false": False, "1": True, "0": False, "1.0": True, "0.0": False}
# CSV reading options after which a data row's position no longer maps to a line we can find.
ROW_SHIFTING = frozenset({"header", "names", "skiprows", "skipfooter", "nrows", "comment",
                          "quotechar", "quoting", "escapechar", "doublequote", "lineterminator",
                          "skip_blank_lines", "dialect", "delim_whitespace"})


@dataclass(frozen=True)
class TableSource:
    """Where a table comes from: how to read it, and how to name a place in it.

    Attributes:
        name: The source as the user wrote it (a path, an SQL URL or a dataset name).
        path: The file to read, or None for SQL and datasets.
        fmt: "csv", "parquet" or "jsonl" for a file.
        encoding: Text encoding of a CSV or JSON lines file.
        delimiter: CSV field delimiter.
        options: Further pandas reading options (the stage's `read_options`).
    """

    name: str
    path: Path | None = None
    fmt: str | None = None
    encoding: str = "utf-8"
    delimiter: str = ","
    options: Mapping[str, Any] = field(default_factory=dict)

    def where(self, position: int) -> str:
        """'line N' of the data row at `position` (0-based) of a text file, else 'row N'."""
        line = None
        if self.path is not None and self.fmt == "jsonl":
            line = _jsonl_line(self.path, self.encoding, position)
        elif self.path is not None and self.fmt == "csv" and len(self.delimiter) == 1 \
                and not set(self.options) & ROW_SHIFTING:
            line = _csv_line(self.path, self.encoding, self.delimiter, position)
        return f"line {line}" if line else f"row {position + 1}"


def read_file(source: TableSource, dtypes: Mapping[str, Any]) -> pd.DataFrame:
    """Read a table file; the text-like `dtypes` of a CSV are applied while parsing.

    Raises:
        DataError: The file is missing, empty, truncated or malformed; the message names
            the line and suggests the option that fixes it when there is one.
    """
    import pandas as pd

    path, name = source.path, source.name
    if path is None or not path.exists():
        raise DataError(f"{name}: file not found")
    if path.is_dir():
        raise DataError(f"{name}: is a directory, not a table file")
    if path.stat().st_size == 0:
        raise DataError(f"{name}: empty file (no rows)")
    try:
        if source.fmt == "parquet":
            return _parquet(source, path)
        if source.fmt == "jsonl":
            return _jsonl(source, path)
        return _csv(source, path, dtypes)
    except DataError:
        raise
    except UnicodeDecodeError:
        raise DataError(_decode_problem(source, path)) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{name}: empty file (no rows)") from None
    except pd.errors.ParserError as exc:
        raise DataError(_parser_problem(source, exc)) from None
    except (ValueError, OSError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{name}: cannot read as {source.fmt}: "
                        f"{detail.replace(str(path), name)}") from None


def _csv(source: TableSource, path: Path, dtypes: Mapping[str, Any]) -> pd.DataFrame:
    import warnings

    import pandas as pd

    options = {**source.options, "on_bad_lines": "error", "encoding": source.encoding}
    options.setdefault("sep", source.delimiter)
    text = {c: t for c, t in dtypes.items() if str(t) in TEXT_DTYPES}
    if text:
        options["dtype"] = text
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pd.errors.DtypeWarning)  # mixed columns: checked later
        frame = pd.read_csv(path, **options)
    if frame.empty and len(frame.columns):
        raise DataError(f"{source.name}: no rows (only a header line)")
    if "index_col" not in options and not isinstance(frame.index, pd.RangeIndex):
        raise DataError(f"{source.name}: line 2: the first data row has more fields than the "
                        f"header ({len(frame.columns)}); if every line ends with a delimiter, "
                        "set read_options: {index_col: false}")
    return frame


def _parquet(source: TableSource, path: Path) -> pd.DataFrame:
    import pandas as pd

    try:
        return pd.read_parquet(path, **source.options)
    except (ValueError, OSError) as exc:
        if "magic bytes not found" in str(exc):
            raise DataError(f"{source.name}: cannot read as parquet: truncated or not a Parquet "
                            "file (its footer is missing)") from None
        raise


def _jsonl(source: TableSource, path: Path) -> pd.DataFrame:
    import pandas as pd

    try:
        return pd.read_json(path, lines=True, encoding=source.encoding, **source.options)
    except (ValueError, TypeError) as exc:
        problem = _json_problem(source, path)
        if problem:
            raise DataError(problem) from None
        raise ValueError(str(exc)) from None


def _json_problem(source: TableSource, path: Path) -> str | None:
    """'file: line N: ...' for the first line that is not a JSON object, or None."""
    with path.open(encoding=source.encoding) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line.strip())
            except json.JSONDecodeError as exc:
                return f"{source.name}: line {number}, column {exc.colno}: invalid JSON ({exc.msg})"
            if not isinstance(value, dict):
                return f"{source.name}: line {number}: not a JSON object ({line.strip()[:40]})"
    return None


def _decode_problem(source: TableSource, path: Path) -> str:
    """Where the first byte that is not valid in the encoding is, and a likely encoding."""
    data = path.read_bytes()
    try:
        data.decode(source.encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return (f"{source.name}: line {line} (byte {exc.start}): 0x{data[exc.start]:02x} is not "
                f"valid {source.encoding}; set encoding: {_guess_encoding(data)} "
                "(or the file's actual encoding)")
    return f"{source.name}: cannot decode as {source.encoding}"


def _guess_encoding(data: bytes) -> str:
    """utf-16 after its byte-order mark; cp1252 for its printable 0x80-0x9f; else latin-1."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if re.search(rb"[\x80-\x9f]", data):
        try:
            data.decode("cp1252")
            return "cp1252"
        except UnicodeDecodeError:
            pass
    return "latin-1"


def _parser_problem(source: TableSource, exc: Exception) -> str:
    """The CSV parser's complaint in one line, with the delimiter the file seems to use."""
    text = str(exc).strip().replace("Error tokenizing data. C error: ", "")
    counts = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
    if counts:
        expected, line, saw = counts.groups()
        text = f"line {line} has {saw} fields, the header has {expected}"
    else:
        text = f"cannot read as csv: {text.splitlines()[0]}"
    return f"{source.name}: {text}{delimiter_hint(source)}"


def delimiter_hint(source: TableSource) -> str:
    """'; the file looks ';'-delimited: set delimiter: ';'' when a sniffed delimiter differs."""
    if source.path is None or source.fmt != "csv":
        return ""
    with source.path.open(encoding=source.encoding, errors="replace", newline="") as handle:
        sample = "".join(itertools.islice(handle, SNIFF_LINES))
    try:
        found = csv.Sniffer().sniff(sample, delimiters=SNIFF_DELIMITERS).delimiter
    except csv.Error:
        return ""
    if found == source.delimiter:
        return ""
    return f"; the file looks {found!r}-delimited: set delimiter: {found!r}"


def require_columns(frame: pd.DataFrame, source: TableSource,
                    wanted: Iterable[tuple[str, str]]) -> None:
    """Fail naming the first missing column (with what declared it) and the columns found.

    Args:
        frame: The table as read.
        source: Where it came from.
        wanted: (column, the field naming it: "columns", "target" or "dtypes") pairs, in
            the order to check them.
    """
    names = [str(c) for c in frame.columns]
    for column, field_name in wanted:
        if column not in frame.columns:
            what = "target column" if field_name == "target" else "column"
            named = " in dtypes" if field_name == "dtypes" else ""
            found = f" (columns: {', '.join(names[:20])}{', ...' * (len(names) > 20)})"
            hint = delimiter_hint(source)
            nearest = "" if hint else did_you_mean(column, names)
            raise DataError(f"{source.name}: no {what} '{column}'{named}{nearest}{found}{hint}")


def apply_dtypes(frame: pd.DataFrame, dtypes: Mapping[str, Any], source: TableSource
                 ) -> pd.DataFrame:
    """The table with its declared column types; the first value that does not fit is named."""
    import numpy as np
    import pandas as pd

    frame = frame.copy()
    for column, declared in dtypes.items():
        try:
            dtype = pd.api.types.pandas_dtype(declared)
        except TypeError:
            raise DataError(f"{source.name}: dtypes: unknown type {declared!r} for column "
                            f"'{column}'") from None
        problems: Problems = []
        values = frame[column]
        if pd.api.types.is_bool_dtype(dtype):
            values, problems = _booleans(values, dtype)
        elif pd.api.types.is_numeric_dtype(dtype):
            values, problems = _numbers(values, dtype)
        for bad, problem in problems:
            if bad.any():
                position = int(np.flatnonzero(bad.to_numpy())[0])
                missing = bool(frame[column].isna().iloc[position])
                shown = "a value" if missing else repr(_plain(frame[column].iloc[position]))
                raise DataError(f"{source.name}: {source.where(position)}, column '{column}': "
                                f"{shown} {problem} (dtypes: {column}: {declared})")
        try:
            frame[column] = values.astype(dtype)
        except (ValueError, TypeError) as exc:
            raise DataError(f"{source.name}: column '{column}': cannot convert to {declared}: "
                            f"{str(exc).splitlines()[0]}") from None
    return frame


Problems = list[tuple["pd.Series", str]]  # (where a value is bad, what is wrong with it)


def _numbers(values: pd.Series, dtype: Any) -> tuple[pd.Series, Problems]:
    """`values` as numbers, and what would make them unfit for `dtype`."""
    import numpy as np
    import pandas as pd

    numbers = values if pd.api.types.is_numeric_dtype(values) else pd.to_numeric(
        values, errors="coerce")
    problems = [(values.notna() & numbers.isna(), "is not a number")]
    if pd.api.types.is_integer_dtype(dtype):
        if isinstance(dtype, np.dtype):
            bounds = np.iinfo(dtype)
            problems += [(values.isna(), "is missing (a nullable type such as Int64 allows "
                                         "missing values)"),
                         ((numbers < bounds.min) | (numbers > bounds.max), "is out of range")]
        problems.append((numbers.notna() & (numbers != numbers.round()), "is not a whole number"))
    return numbers, problems


def _booleans(values: pd.Series, dtype: Any) -> tuple[pd.Series, Problems]:
    """`values` as True/False (from true/false/1/0 in any case), and the ones that are not."""
    import numpy as np
    import pandas as pd

    if pd.api.types.is_bool_dtype(values):
        return values, []
    words = values.map(lambda value: str(value).strip().lower(), na_action="ignore")
    flags = words.map(BOOLEANS).astype(object)
    problems = [(values.notna() & flags.isna(), "is not true or false")]
    if isinstance(dtype, np.dtype):
        problems.append((values.isna(), "is missing (the nullable type boolean allows missing "
                                        "values)"))
    return flags, problems


def check_mixed_columns(frame: pd.DataFrame, source: TableSource, declared: Iterable[str]
                        ) -> None:
    """Fail on a text column that is numbers but for a few values (a bad row, a stray '?').

    Columns with a declared dtype are left alone: declaring `str` keeps a mixed column as text.
    """
    import numpy as np
    import pandas as pd

    skip = set(declared)
    for column in frame.columns:
        values = frame[column]
        if column in skip or not (pd.api.types.is_object_dtype(values)
                                  or pd.api.types.is_string_dtype(values)):
            continue
        sample = values.iloc[:SAMPLE].dropna()
        if sample.empty or pd.to_numeric(sample, errors="coerce").notna().mean() < NUMERIC_SHARE:
            continue
        bad = values.notna() & pd.to_numeric(values, errors="coerce").isna()
        present = int(values.notna().sum())
        if not bad.any() or (present - int(bad.sum())) / present < NUMERIC_SHARE:
            continue
        position = int(np.flatnonzero(bad.to_numpy())[0])
        text = str(_plain(values.iloc[position]))
        count = int(bad.sum())
        share = "is not a number" if count == 1 else "are not numbers"
        fix = (f"read_options: {{na_values: [{text!r}]}} if it marks a missing value"
               if not any(ch.isalnum() for ch in text) else
               f"declare dtypes: {{{column}: str}} to read the column as text")
        raise DataError(f"{source.name}: {source.where(position)}, column '{column}': {text!r} "
                        f"in a numeric column ({count} of {present} values {share}); "
                        f"fix the data, or {fix}")


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (so repr() shows 1.5, not np.float64)."""
    return value.item() if hasattr(value, "item") else value


def _csv_line(path: Path, encoding: str, delimiter: str, position: int) -> int | None:
    """The line where data row `position` starts, skipping blank lines as pandas does."""
    with path.open(encoding=encoding, errors="replace", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        seen, end = -1, 0  # -1: the header comes first
        for row in reader:
            start, end = end + 1, reader.line_num
            if not row:
                continue
            if seen == position:
                return start
            seen += 1
    return None


def _jsonl_line(path: Path, encoding: str, position: int) -> int | None:
    """The line of JSON object number `position`, skipping blank lines as pandas does."""
    with path.open(encoding=encoding, errors="replace") as handle:
        rows = (n for n, line in enumerate(handle, start=1) if line.strip())
        return next(itertools.islice(rows, position, None), None)

"""Reading and writing the files ML kinds exchange: tables (Parquet, CSV, JSON lines) and JSON.

pandas is imported inside the functions, so importing this module stays cheap. Every write
goes to a temporary file first and is renamed into place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpipe.state.fsutil import atomic_write_text

if TYPE_CHECKING:
    import pandas as pd

TABLE_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl",
                 ".ndjson": "jsonl", ".json": "jsonl"}


class DataError(ValueError):
    """A data file cannot be read as a table; the message names the file and the problem."""


def table_format(path: Path, declared: str | None = None) -> str:
    if declared:
        return declared
    fmt = TABLE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: unknown table format '{path.suffix}' "
                        f"(use one of {', '.join(sorted(set(TABLE_FORMATS)))} or set 'format')")
    return fmt


def read_table(path: Path, fmt: str | None = None, **options: Any) -> pd.DataFrame:
    """Read a table; errors become DataError naming the file."""
    import pandas as pd

    kind = table_format(path, fmt)
    try:
        if kind == "parquet":
            return pd.read_parquet(path, **options)
        if kind == "csv":
            return pd.read_csv(path, **options)
        return pd.read_json(path, lines=True, **options)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot read as {kind}: {str(exc).splitlines()[0]}") from None


def write_table(df: pd.DataFrame, path: Path) -> None:
    """Write a DataFrame as Parquet, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    df.to_parquet(tmp, index=False)
    tmp.replace(path)


def write_json(obj: Any, path: Path) -> None:
    """Write JSON (sorted keys, indented, NaN-free), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str,
                                       allow_nan=False) + "\n")


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except ValueError as exc:
        raise DataError(f"{path}: invalid JSON: {exc}") from None

"""Labels collected after serving, joined to the logged records they belong to.

A labels file (CSV, Parquet or JSON lines) holds an id column and the model's target. The id
is either the request id (`request_id`, sent back by the server as `X-Request-ID`; with a
`row` column too when requests carry several records: the record's position in its request,
from 0) or one of the input columns. Every problem is one line naming the file and the column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlpipe.errors import UsageError, one_line
from mlpipe.monitor.logs import LoggedRow

if TYPE_CHECKING:
    import pandas as pd

REQUEST_ID = "request_id"
ROW = "row"


@dataclass(frozen=True)
class Joined:
    """The logged records that have a label.

    Attributes:
        positions: Their indices in the logged rows, in log order.
        y: Their labels, in the same order.
        unmatched: Labels that matched no logged record.
    """

    positions: tuple[int, ...]
    y: pd.Series
    unmatched: int


def read_labels(path: Path) -> pd.DataFrame:
    """The labels table (format from the suffix: .csv, .parquet, .jsonl).

    Raises:
        UsageError: The file is missing or cannot be read.
    """
    from mlpipe.ml.dataio import DataError, read_table

    try:
        return read_table(path)
    except DataError as exc:
        raise UsageError(one_line(f"--labels: {exc}")) from None


def _problem(path: Path, text: str) -> UsageError:
    return UsageError(one_line(f"--labels {path}: {text}"))


def join(rows: Sequence[LoggedRow], labels: pd.DataFrame, id_column: str, target: str,
         path: Path) -> Joined:
    """Match labels to logged records on the id.

    Args:
        rows: The logged records.
        labels: The labels table.
        id_column: `request_id` or an input column, in both the labels and the records.
        target: The model's target column, in the labels.
        path: The labels file, for messages.

    Returns:
        The matched records' positions and labels.

    Raises:
        UsageError: A column is missing, an id is given twice, a request id names a request
            of several records without a `row` column, or no label matches a record.
    """
    import pandas as pd

    columns = ", ".join(map(str, labels.columns))
    if id_column not in labels.columns:
        raise _problem(path, f"no id column '{id_column}' (columns: {columns}); name it with "
                             f"--id-column")
    if target not in labels.columns:
        raise _problem(path, f"no target column '{target}' (columns: {columns})")
    by_request = id_column == REQUEST_ID
    keys = [REQUEST_ID, ROW] if by_request and ROW in labels.columns else [id_column]
    if not by_request and not any(id_column in r.inputs for r in rows):
        raise UsageError(one_line(
            f"--id-column '{id_column}': the logged records have no such column (they have "
            f"{', '.join(sorted(rows[0].inputs)) if rows else 'none'}); use '{REQUEST_ID}' or "
            "an input column"))
    live = pd.DataFrame({
        id_column: [r.request_id if by_request else r.inputs.get(id_column) for r in rows],
        ROW: [r.row for r in rows], "_position": range(len(rows))})
    table = labels[[*keys, target]].dropna()
    if ROW in keys:
        table = table.assign(row=pd.to_numeric(table[ROW], errors="coerce")).dropna()
        table[ROW] = table[ROW].astype("int64")
    live[id_column] = live[id_column].astype(str)
    table[id_column] = table[id_column].astype(str)
    repeated = table[table.duplicated(keys, keep=False)]
    if not repeated.empty:
        raise _problem(path, f"id {repeated.iloc[0][id_column]!r} is labelled "
                             f"{int(repeated[id_column].eq(repeated.iloc[0][id_column]).sum())} "
                             "times; give each record one label")
    matched = live.merge(table, on=keys, how="inner").sort_values("_position")
    if matched.empty:
        raise _problem(path, f"no label matches a logged record on '{id_column}' "
                             f"({len(table)} labels, {len(rows)} logged records)")
    if by_request and ROW not in keys:
        sizes = live.groupby(id_column)[ROW].transform("size")
        several = live[sizes > 1]
        several = several[several[id_column].isin(matched[id_column])]
        if not several.empty:
            raise _problem(path, f"request {several.iloc[0][id_column]!r} holds "
                                 f"{int(sizes[several.index[0]])} records: add a '{ROW}' "
                                 "column (the record's position in its request, from 0)")
    used = matched[keys].drop_duplicates()
    return Joined(tuple(int(p) for p in matched["_position"]),
                  matched[target].reset_index(drop=True), len(table) - len(used))

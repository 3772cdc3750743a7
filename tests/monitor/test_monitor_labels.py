"""Joining labels to logged records: by request id (and row), or by an input column."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from mlpipe.errors import UsageError
from mlpipe.monitor.labels import join, read_labels
from mlpipe.monitor.logs import LoggedRow

TS = datetime(2026, 11, 29, 10, tzinfo=UTC)
FILE = Path("labels.csv")


def rows(*spec: tuple[str, int, int]) -> list[LoggedRow]:
    """Logged records from (request id, row, customer id)."""
    return [LoggedRow(rid, row, TS, 1, {"customer": cid, "x": 0.5}, 0, None)
            for rid, row, cid in spec]


def test_labels_join_on_request_id_and_row() -> None:
    logged = rows(("a", 0, 10), ("a", 1, 11), ("b", 0, 12))
    labels = pd.DataFrame({"request_id": ["b", "a", "zz"], "row": [0, 1, 0], "y": [1, 0, 1]})
    joined = join(logged, labels, "request_id", "y", FILE)
    assert joined.positions == (1, 2) and joined.y.tolist() == [0, 1]
    assert joined.unmatched == 1


def test_labels_join_on_request_id_alone_for_single_record_requests() -> None:
    logged = rows(("a", 0, 10), ("b", 0, 12))
    labels = pd.DataFrame({"request_id": ["b", "a"], "y": ["yes", "no"]})
    joined = join(logged, labels, "request_id", "y", FILE)
    assert joined.positions == (0, 1) and joined.y.tolist() == ["no", "yes"]


def test_labels_join_on_an_input_column() -> None:
    logged = rows(("a", 0, 10), ("a", 1, 11), ("b", 0, 10))
    labels = pd.DataFrame({"customer": [10, 11, 99], "y": [1, 0, 0]})
    joined = join(logged, labels, "customer", "y", FILE)
    assert joined.positions == (0, 1, 2) and joined.y.tolist() == [1, 0, 1]
    assert joined.unmatched == 1


@pytest.mark.parametrize(("labels", "id_column", "message"), [
    (pd.DataFrame({"id": ["a"], "y": [1]}), "request_id",
     r"--labels labels.csv: no id column 'request_id' \(columns: id, y\); name it with "
     r"--id-column"),
    (pd.DataFrame({"request_id": ["a"], "label": [1]}), "request_id",
     r"no target column 'y' \(columns: request_id, label\)"),
    (pd.DataFrame({"request_id": ["a", "a"], "row": [0, 0], "y": [1, 0]}), "request_id",
     r"id 'a' is labelled 2 times"),
    (pd.DataFrame({"request_id": ["a"], "y": [1]}), "request_id",
     r"request 'a' holds 2 records: add a 'row' column"),
    (pd.DataFrame({"request_id": ["nope"], "y": [1]}), "request_id",
     r"no label matches a logged record on 'request_id' \(1 labels, 3 logged records\)"),
    (pd.DataFrame({"account": [1], "y": [1]}), "account",
     r"--id-column 'account': the logged records have no such column \(they have customer, x\)"),
])
def test_a_label_problem_is_one_line(labels: pd.DataFrame, id_column: str,
                                     message: str) -> None:
    with pytest.raises(UsageError, match=message):
        join(rows(("a", 0, 10), ("a", 1, 11), ("b", 0, 12)), labels, id_column, "y", FILE)


def test_read_labels_reads_csv_parquet_and_jsonl_and_names_a_missing_file(
        tmp_path: Path) -> None:
    frame = pd.DataFrame({"request_id": ["a", "b"], "y": [1, 0]})
    frame.to_csv(tmp_path / "l.csv", index=False)
    frame.to_parquet(tmp_path / "l.parquet")
    frame.to_json(tmp_path / "l.jsonl", orient="records", lines=True)
    for name in ("l.csv", "l.parquet", "l.jsonl"):
        assert read_labels(tmp_path / name).to_dict("list") == frame.to_dict("list")
    with pytest.raises(UsageError, match=r"--labels: .*missing.csv: file not found"):
        read_labels(tmp_path / "missing.csv")

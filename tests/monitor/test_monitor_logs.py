"""Reading prediction logs: filters, gap lines, a cut-short last line, damaged lines, --since."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mlpipe.errors import UsageError
from mlpipe.monitor.logs import log_files, parse_since, read_logs

NOW = datetime(2026, 11, 29, 12, 30, tzinfo=UTC)


def line(request_id: str, ts: str, records: list[dict[str, Any]], model: str = "iris",
         version: int = 1, **extra: Any) -> str:
    return json.dumps({"ts": ts, "request_id": request_id, "model": model, "version": version,
                       "endpoint": "/predict", "records": records,
                       "predictions": list(range(len(records))), **extra}) + "\n"


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    return path


def test_rows_are_flattened_and_filtered_by_model_and_version(tmp_path: Path) -> None:
    write(tmp_path, "predictions-20261129T10-1.jsonl",
          line("a", "2026-11-29T10:05:00.000+00:00", [{"x": 1}, {"x": 2}],
               probabilities=[{"0": 0.9, "1": 0.1}, {"0": 0.3, "1": 0.7}])
          + line("b", "2026-11-29T10:06:00+00:00", [{"x": 3}], version=2)
          + line("c", "2026-11-29T10:07:00+00:00", [{"x": 4}], model="wine"))
    write(tmp_path, "notes.txt", "not a log\n")
    batch = read_logs(tmp_path, "iris")
    assert [(r.request_id, r.row, r.inputs, r.version) for r in batch.rows] == [
        ("a", 0, {"x": 1}, 1), ("a", 1, {"x": 2}, 1), ("b", 0, {"x": 3}, 2)]
    assert batch.rows[1].probabilities == {"0": 0.3, "1": 0.7} and batch.rows[1].prediction == 1
    assert batch.rows[2].probabilities is None
    assert (batch.requests, len(batch.files)) == (2, 1)
    assert [r.request_id for r in read_logs(tmp_path, "iris", version=2).rows] == ["b"]


def test_gap_lines_count_dropped_requests(tmp_path: Path) -> None:
    write(tmp_path, "predictions-20261129T10-1.jsonl",
          line("a", "2026-11-29T10:05:00+00:00", [{"x": 1}])
          + json.dumps({"ts": "2026-11-29T10:05:01+00:00", "model": "iris", "version": 1,
                        "dropped": 7}) + "\n")
    batch = read_logs(tmp_path, "iris")
    assert (len(batch.rows), batch.dropped) == (1, 7)


def test_a_cut_short_last_line_is_skipped_and_counted(tmp_path: Path) -> None:
    whole = line("a", "2026-11-29T10:05:00+00:00", [{"x": 1}])
    write(tmp_path, "predictions-20261129T10-1.jsonl", whole + whole[: len(whole) // 2])
    batch = read_logs(tmp_path, "iris")
    assert (len(batch.rows), batch.partial) == (1, 1)


def test_a_damaged_line_before_the_last_is_an_error_naming_file_and_line(
        tmp_path: Path) -> None:
    whole = line("a", "2026-11-29T10:05:00+00:00", [{"x": 1}])
    path = write(tmp_path, "predictions-20261129T10-1.jsonl", whole + "{oops\n" + whole)
    with pytest.raises(UsageError, match=rf"{path}:2: damaged prediction log line: not JSON"):
        read_logs(tmp_path, "iris")
    write(tmp_path, "predictions-20261129T10-1.jsonl",
          whole + line("b", "2026-11-29T10:05:00+00:00", [{"x": 1}])[:-1].replace(
              '"predictions": [0]', '"predictions": [0, 1]') + "\n")
    with pytest.raises(UsageError, match=r":2: .*'records' and 'predictions' must be lists"):
        read_logs(tmp_path, "iris")


def test_since_skips_older_requests_and_older_files(tmp_path: Path) -> None:
    write(tmp_path, "predictions-20261129T09-1.jsonl",
          line("old", "2026-11-29T09:59:00+00:00", [{"x": 1}]))
    write(tmp_path, "predictions-20261129T10-1.jsonl",
          line("early", "2026-11-29T10:10:00+00:00", [{"x": 1}])
          + line("late", "2026-11-29T10:40:00+00:00", [{"x": 1}]))
    since = datetime(2026, 11, 29, 10, 30, tzinfo=UTC)
    assert [p.name for p in log_files(tmp_path, since)] == ["predictions-20261129T10-1.jsonl"]
    assert [r.request_id for r in read_logs(tmp_path, "iris", since=since).rows] == ["late"]
    assert len(read_logs(tmp_path, "iris").rows) == 3


def test_a_missing_directory_says_how_to_log(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"no prediction logs: .* is not a directory; serve the "
                                         r"model with `mlpipe serve iris --log-predictions"):
        read_logs(tmp_path / "nowhere", "iris")


@pytest.mark.parametrize(("text", "expected"), [
    ("24h", NOW - timedelta(hours=24)),
    ("30m", NOW - timedelta(minutes=30)),
    ("7d", NOW - timedelta(days=7)),
    ("1.5h", NOW - timedelta(minutes=90)),
    ("2026-11-29T08:00", datetime(2026, 11, 29, 8, tzinfo=UTC)),
    ("2026-11-29T10:00:00+02:00", datetime(2026, 11, 29, 8, tzinfo=UTC)),
    ("2026-11-29T08:00:00Z", datetime(2026, 11, 29, 8, tzinfo=UTC)),
])
def test_since_is_a_time_or_a_duration(text: str, expected: datetime) -> None:
    assert parse_since(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "24", "h", "-3h", "2026-13-01"])
def test_a_bad_since_is_one_line(text: str) -> None:
    with pytest.raises(UsageError, match=rf"--since '{text}': not an ISO time"):
        parse_since(text, NOW)

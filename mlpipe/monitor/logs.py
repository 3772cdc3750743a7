"""Reading prediction logs: the JSON-lines files `mlpipe serve --log-predictions` writes.

Each line is one answered request (see `mlpipe.serving.predlog`) or a gap line counting
requests the server dropped. A file's last line may be cut short (a write under way, or a
killed server): it is skipped and counted. A damaged line anywhere else is an error naming the
file and line, since the writer never leaves one there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mlpipe.errors import UsageError, one_line
from mlpipe.serving.predlog import FILE_RE

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class LoggedRow:
    """One input record the served model answered, with what it answered.

    Attributes:
        request_id: The request's id (X-Request-ID).
        row: The record's position in its request, from 0.
        ts: When the request was answered (UTC).
        version: The model version that answered.
        inputs: The input record {column: value}.
        prediction: The prediction.
        probabilities: {class (as text): probability} for a classifier, else None.
    """

    request_id: str
    row: int
    ts: datetime
    version: int | None
    inputs: dict[str, Any]
    prediction: Any
    probabilities: dict[str, Any] | None


@dataclass(frozen=True)
class LogBatch:
    """What the logs hold for one model.

    Attributes:
        rows: The logged records, oldest file first.
        requests: Requests they came in.
        files: Files that held at least one of them.
        dropped: Requests the server dropped (queue full) in those files' time.
        partial: Files whose last line was cut short (skipped).
    """

    rows: tuple[LoggedRow, ...]
    requests: int
    files: tuple[Path, ...]
    dropped: int
    partial: int


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """The start of the window `--since` names.

    Args:
        text: An ISO 8601 time (UTC when it has no offset) or a duration back from now:
            `30m`, `24h`, `7d`, `2w`, `90s`.
        now: The current time (default: now, UTC).

    Returns:
        An aware UTC datetime.

    Raises:
        UsageError: Neither form.
    """
    now = now or datetime.now(UTC)
    match = _DURATION.match(text.strip())
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(one_line(f"--since '{text}': not an ISO time (2026-12-01T08:00) or a "
                                  "duration back from now (30m, 24h, 7d)")) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def log_files(directory: Path, since: datetime | None = None) -> list[Path]:
    """The prediction log files in `directory`, oldest hour first; hours wholly before `since`
    are left out.
    """
    found = []
    for path in directory.iterdir():
        match = FILE_RE.match(path.name)
        if not match or not path.is_file():
            continue
        start = datetime.strptime(match.group(1), "%Y%m%dT%H").replace(tzinfo=UTC)
        if since is not None and start + timedelta(hours=1) <= since:
            continue
        found.append((match.group(1), int(match.group(2)), path))
    return [path for *_, path in sorted(found)]


def read_logs(directory: Path, model: str, version: int | None = None,
              since: datetime | None = None) -> LogBatch:
    """The records a model answered, from every log file in `directory`.

    Args:
        directory: The `--log-predictions` directory.
        model: The model's name.
        version: Only this version's answers (None: every version).
        since: Only requests answered at or after this time.

    Returns:
        The records and counts.

    Raises:
        UsageError: The directory does not exist, or a line other than a file's last one is
            damaged.
    """
    if not directory.is_dir():
        raise UsageError(one_line(f"no prediction logs: {directory} is not a directory; serve "
                                  f"the model with `mlpipe serve {model} --log-predictions "
                                  f"{directory}`, or point --logs at where it logs"))
    rows: list[LoggedRow] = []
    files: list[Path] = []
    requests = dropped = partial = 0
    for path in log_files(directory, since):
        before = len(rows)
        for entry in _entries(path):
            if entry is None:
                partial += 1
                continue
            lineno, line = entry
            if line.get("model") != model or (version is not None
                                               and line.get("version") != version):
                continue
            ts = _time(line, path, lineno)
            if since is not None and ts < since:
                continue
            if "dropped" in line:
                dropped += _count(line["dropped"], path, lineno)
                continue
            rows += _rows(line, ts, path, lineno)
            requests += 1
        if len(rows) > before:
            files.append(path)
    return LogBatch(tuple(rows), requests, tuple(files), dropped, partial)


def _entries(path: Path) -> Iterator[tuple[int, dict[str, Any]] | None]:
    """(line number, object) per line; None for a cut-short last line."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(one_line(f"{path}: cannot read ({exc.strerror or exc})")) from None
    lines = data.split(b"\n")
    last = len(lines) - 1  # after the final newline: b"" when the file ends with one
    for index, raw in enumerate(lines):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except ValueError as exc:
            if index == last:
                yield None
                return
            raise _damaged(path, index + 1, f"not JSON ({exc})") from None
        if not isinstance(value, dict):
            raise _damaged(path, index + 1, "not a JSON object")
        yield index + 1, value


def _damaged(path: Path, lineno: int, problem: str) -> UsageError:
    return UsageError(one_line(f"{path}:{lineno}: damaged prediction log line: {problem}; "
                               "move the file out of the log directory to go on without it"))


def _time(line: dict[str, Any], path: Path, lineno: int) -> datetime:
    try:
        ts = datetime.fromisoformat(str(line["ts"]))
    except (KeyError, ValueError):
        raise _damaged(path, lineno, "no ISO 'ts' time") from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


def _count(value: Any, path: Path, lineno: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _damaged(path, lineno, "'dropped' is not a count")
    return value


def _rows(line: dict[str, Any], ts: datetime, path: Path, lineno: int) -> list[LoggedRow]:
    """The records of one request line, each with its prediction."""
    records, predictions = line.get("records"), line.get("predictions")
    if not (isinstance(records, list) and isinstance(predictions, list)
            and len(records) == len(predictions)
            and all(isinstance(r, dict) for r in records)):
        raise _damaged(path, lineno, "'records' and 'predictions' must be lists of one "
                                     "length, records objects")
    probabilities = line.get("probabilities")
    if not (isinstance(probabilities, list) and len(probabilities) == len(records)):
        probabilities = [None] * len(records)
    request_id = str(line.get("request_id", f"{path.name}:{lineno}"))
    version = line.get("version") if isinstance(line.get("version"), int) else None
    return [LoggedRow(request_id, i, ts, version, record, prediction,
                      proba if isinstance(proba, dict) else None)
            for i, (record, prediction, proba) in enumerate(
                zip(records, predictions, probabilities, strict=True))]

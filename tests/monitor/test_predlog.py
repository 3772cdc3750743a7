"""The prediction log: lines, rotation by hour and size, a bounded queue, write errors."""

from __future__ import annotations

import errno
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlpipe.serving import predlog
from mlpipe.serving.predlog import PredictionLog, PredictionLogError

RESULT = {"predictions": [1], "classes": [0, 1], "probabilities": [{"0": 0.2, "1": 0.8}]}
HOUR = 1_795_947_600.0  # 2026-11-29T10:20:00Z


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll until `condition` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


class Clock:
    """A settable time source."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_each_request_is_one_line_with_what_was_asked_and_answered(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "logs", "iris", 3, clock=Clock(HOUR))
    assert log.submit("/predict", "req-1", [{"x": 1.5}], RESULT)
    assert log.submit("/invocations", "req-2", [{"x": 2}, {"x": None}],
                      {"predictions": [0.5, 0.7]})
    stats = log.close()
    assert (stats.written, stats.dropped, stats.failed) == (2, 0, 0)
    [path] = stats.files
    assert path.name == "predictions-20261129T10-1.jsonl"
    first, second = lines(path)
    assert first == {"ts": "2026-11-29T10:20:00.000+00:00", "request_id": "req-1",
                     "model": "iris", "version": 3, "endpoint": "/predict",
                     "records": [{"x": 1.5}], "predictions": [1], "classes": [0, 1],
                     "probabilities": [{"0": 0.2, "1": 0.8}]}
    assert second["records"] == [{"x": 2}, {"x": None}] and "probabilities" not in second
    assert log.close() == stats  # closing twice changes nothing


def test_files_rotate_by_the_hour_of_the_requests(tmp_path: Path) -> None:
    clock = Clock(HOUR)
    log = PredictionLog(tmp_path, "iris", 1, clock=clock)
    log.submit("/predict", "a", [{"x": 1}], RESULT)
    clock.now += 3600
    log.submit("/predict", "b", [{"x": 1}], RESULT)
    log.submit("/predict", "c", [{"x": 1}], RESULT)
    files = log.close().files
    assert [p.name for p in files] == ["predictions-20261129T10-1.jsonl",
                                       "predictions-20261129T11-1.jsonl"]
    assert [[line["request_id"] for line in lines(p)] for p in files] == [["a"], ["b", "c"]]


def test_files_rotate_by_size_and_only_between_whole_lines(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path, "iris", 1, max_bytes=600, clock=Clock(HOUR))
    for i in range(20):
        log.submit("/predict", f"r{i}", [{"x": i}], RESULT)
    log.submit("/predict", "big", [{"x": "y" * 2000}], RESULT)  # larger than a file may be
    files = log.close().files
    assert len(files) >= 5
    assert [p.name.rsplit("-", 1)[1] for p in files[:3]] == ["1.jsonl", "2.jsonl", "3.jsonl"]
    ids = [line["request_id"] for p in files for line in lines(p)]
    assert ids == [*(f"r{i}" for i in range(20)), "big"]
    assert all(p.stat().st_size <= 600 for p in files[:-1])
    assert lines(files[-1])[0]["request_id"] == "big"


def test_a_server_never_appends_to_a_file_it_did_not_create(tmp_path: Path) -> None:
    left = tmp_path / "predictions-20261129T10-1.jsonl"
    left.write_bytes(b'{"ts": "2026-11-29T10:01:00+00:00", "records": [{"x"')  # killed writer
    first = PredictionLog(tmp_path, "iris", 1, clock=Clock(HOUR))
    second = PredictionLog(tmp_path, "iris", 1, clock=Clock(HOUR))
    for log in (first, second):
        log.submit("/predict", "r", [{"x": 1}], RESULT)
    names = {p.name for log in (first, second) for p in log.close().files}
    assert names == {"predictions-20261129T10-2.jsonl", "predictions-20261129T10-3.jsonl"}
    assert left.read_bytes().endswith(b'[{"x"')


class Stalled(PredictionLog):
    """A log whose disk hangs: its writer waits in its first write until released."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.entered, self.release = threading.Event(), threading.Event()
        super().__init__(*args, **kwargs)

    def _flush(self, lines: list[bytes], requests: int) -> None:
        self.entered.set()
        assert self.release.wait(10)
        super()._flush(lines, requests)


def test_a_full_queue_drops_and_counts_instead_of_blocking(tmp_path: Path) -> None:
    log = Stalled(tmp_path, "iris", 1, queue_size=2, clock=Clock(HOUR))
    assert log.submit("/predict", "first", [{"x": 1}], RESULT)
    assert log.entered.wait(10)  # the writer holds "first"; the queue is empty again
    accepted = [log.submit("/predict", f"r{i}", [{"x": i}], RESULT) for i in range(5)]
    assert accepted == [True, True, False, False, False]
    assert log.stats().dropped == 3
    log.release.set()
    stats = log.close()
    assert (stats.written, stats.dropped) == (3, 3)
    logged = [line for p in stats.files for line in lines(p)]
    assert [line.get("request_id", line.get("dropped")) for line in logged] == [
        "first", 3, "r0", "r1"]
    assert logged[1] == {"ts": logged[1]["ts"], "model": "iris", "version": 1, "dropped": 3}


def test_drops_after_the_last_write_are_reported_when_the_log_closes(tmp_path: Path) -> None:
    log = Stalled(tmp_path, "iris", 1, queue_size=1, clock=Clock(HOUR), flush_interval=0)
    log.submit("/predict", "first", [{"x": 1}], RESULT)
    assert log.entered.wait(10)  # the writer is stuck writing "first"
    closing = threading.Thread(target=log.close)
    closing.start()
    wait_for(log._queue.full)  # close() has queued its stop marker: nothing else will come
    assert not log.submit("/predict", "late", [{"x": 2}], RESULT)
    log.release.set()
    closing.join(10)
    logged = [line for p in log.stats().files for line in lines(p)]
    assert [line.get("request_id", line.get("dropped")) for line in logged] == ["first", 1]


def test_a_failed_write_leaves_its_partial_line_last_and_moves_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write cut short (disk full) leaves part of a line: it must stay the file's last line,
    so the next batch goes to a new file, and readers still see only whole lines before it."""
    from mlpipe.monitor.logs import read_logs

    real_write, calls = os.write, []

    def cut_short_once(fd: int, data: Any) -> int:
        calls.append(fd)
        if len(calls) == 1:
            real_write(fd, bytes(data[: len(data) // 2]))
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(predlog.os, "write", cut_short_once)
    log = PredictionLog(tmp_path, "iris", 1, clock=Clock(HOUR), flush_interval=0)
    log.submit("/predict", "lost", [{"x": 1}], RESULT)
    wait_for(lambda: log.stats().failed == 1)  # that batch failed; the log stays open
    log.submit("/predict", "kept", [{"x": 2}], RESULT)
    stats = log.close()
    assert (stats.written, stats.failed) == (1, 1)
    first, second = stats.files
    assert not first.read_bytes().endswith(b"\n")  # only the cut-short line, left alone
    assert [line["request_id"] for line in lines(second)] == ["kept"]
    batch = read_logs(tmp_path, "iris")
    assert ([r.request_id for r in batch.rows], batch.partial) == (["kept"], 1)


def test_an_unusable_directory_is_refused_up_front(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(PredictionLogError, match="cannot create the prediction log directory"):
        PredictionLog(blocker / "logs", "iris", 1)


def test_the_server_writes_what_is_queued_when_it_stops(tmp_path: Path) -> None:
    """The app closes the log at shutdown: uvicorn may end the process right after it."""
    import urllib.request

    import uvicorn
    from sklearn.dummy import DummyClassifier

    from mlpipe.serving.app import create_app

    model = DummyClassifier().fit([[0.0], [1.0]], [0, 1])
    meta = {"task": "classification", "features": [{"name": "x", "dtype": "float64"}]}
    log = PredictionLog(tmp_path, "dummy", 1, flush_interval=60.0)  # would wait a minute
    app = create_app(model, meta, {"name": "dummy", "version": 1}, prediction_log=log)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started)
    port = server.servers[0].sockets[0].getsockname()[1]
    request = urllib.request.Request(f"http://127.0.0.1:{port}/predict",
                                     data=b'{"records": [{"x": 0.5}]}')
    with urllib.request.urlopen(request, timeout=10) as resp:
        request_id = resp.headers["X-Request-ID"]
    started = time.monotonic()
    server.should_exit = True
    thread.join(timeout=20)
    assert time.monotonic() - started < 20
    [path] = log.stats().files
    assert [line["request_id"] for line in lines(path)] == [request_id]

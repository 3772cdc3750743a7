"""Logging what a served model answers: JSON lines in rotated files, written off the request path.

Each answered /predict or /invocations request becomes one line, `{"ts", "request_id",
"model", "version", "endpoint", "records", "predictions"}` plus `"classes"` and
`"probabilities"` for a classifier, in `<dir>/predictions-YYYYmmddTHH-<n>.jsonl`. `YYYYmmddTHH`
is the UTC hour the requests arrived in; `n` counts from 1 within that hour. A file is rotated
when the hour changes and when the next lines would take it past `max_bytes` (a single larger
line still gets a file of its own). Every server claims new file names (create-exclusive), and
never appends to an existing file: a file a killed server left behind stays as it was, and two
servers sharing a directory never write the same file.

The request handler only puts the answer on a bounded queue; one background thread serialises
and writes, waking at most every `flush_interval` seconds (0.2 by default) to write what has
queued up meanwhile in one go, so logging costs the serving threads few thread switches and
system calls. When the queue is full the request is not logged (serving never waits for the
disk): it is counted, and the next write adds a line `{"ts", "dropped": n, ...}` so a reader
knows records are missing. Lines are written whole, one write per batch, so a file holds valid
JSON lines at every moment except, while a write is under way or after a crash, its last line.
A file that cannot be written is closed and the batch is counted as failed; the next batch
claims a new file. No header is logged, so the bearer token never reaches the files.

This module imports nothing from mlpipe (the standard library only), so bundles can ship it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FILE_PREFIX = "predictions-"
FILE_SUFFIX = ".jsonl"
FILE_RE = re.compile(r"^predictions-(\d{8}T\d{2})-(\d+)\.jsonl$")
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_QUEUE = 10_000
DEFAULT_FLUSH_INTERVAL = 0.2
MAX_BATCH = 512
LOG = logging.getLogger("mlpipe.serving.predlog")
_STOP = object()


class PredictionLogError(ValueError):
    """The log directory cannot be created or written; the message says which and why."""


@dataclass(frozen=True)
class LogStats:
    """What a prediction log did so far.

    Attributes:
        written: Requests written to a file.
        dropped: Requests not logged because the queue was full.
        failed: Requests lost to a write error (or that could not be serialised).
        files: The files this log claimed, oldest first.
    """

    written: int
    dropped: int
    failed: int
    files: tuple[Path, ...]


def hour_of(ts: float) -> str:
    """The UTC hour of a POSIX time as it appears in file names: `YYYYmmddTHH`."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y%m%dT%H")


def iso_time(ts: float) -> str:
    """A POSIX time as ISO 8601 UTC with milliseconds."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


class PredictionLog:
    """A bounded queue of answered requests and the thread that writes them as JSON lines."""

    def __init__(self, directory: Path, model: str, version: int | None,
                 max_bytes: int = DEFAULT_MAX_BYTES, queue_size: int = DEFAULT_QUEUE,
                 clock: Callable[[], float] = time.time,
                 on_close: Callable[[LogStats], None] | None = None,
                 flush_interval: float = DEFAULT_FLUSH_INTERVAL) -> None:
        """Create the directory if needed and start the writer thread.

        Args:
            directory: Where the files go.
            model: The served model's name, written on every line.
            version: Its version (None when it has none, e.g. a bundle).
            max_bytes: Size past which a file is rotated.
            queue_size: Requests that may wait to be written; more are dropped and counted.
            clock: The time source (POSIX seconds).
            on_close: Called once with the final counts when the log is closed.
            flush_interval: Seconds the writer waits after a request arrives, to write the
                requests that arrive meanwhile with it.

        Raises:
            PredictionLogError: The directory cannot be created or is not writable.
        """
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PredictionLogError(f"cannot create the prediction log directory "
                                     f"{self.directory} ({exc.strerror or exc})") from None
        if not self.directory.is_dir() or not os.access(self.directory, os.W_OK | os.X_OK):
            raise PredictionLogError(f"the prediction log directory {self.directory} is not "
                                     "a writable directory")
        self.model, self.version, self.max_bytes = model, version, max(1, int(max_bytes))
        self._clock, self._on_close = clock, on_close
        self._interval = max(0.0, flush_interval)
        self._stopping = threading.Event()
        self._closing = threading.Lock()
        self._closed = False
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, queue_size))
        self._lock = threading.Lock()
        self._written = self._dropped = self._failed = self._unreported = 0
        self._files: list[Path] = []
        self._fd: int | None = None
        self._hour = ""
        self._size = 0
        self._thread = threading.Thread(target=self._run, name="mlpipe-predlog", daemon=True)
        self._thread.start()

    def submit(self, endpoint: str, request_id: str, records: list[Any],
               result: Mapping[str, Any]) -> bool:
        """Queue one answered request; never blocks.

        Args:
            endpoint: The path that answered (/predict or /invocations).
            request_id: The request's id (also sent back as X-Request-ID).
            records: The request's input records, as checked against the signature.
            result: The prediction result (predictions, classes, probabilities).

        Returns:
            False when the queue was full and the request was dropped (and counted).
        """
        try:
            self._queue.put_nowait((self._clock(), endpoint, request_id, records, result))
        except queue.Full:
            with self._lock:
                self._dropped += 1
                self._unreported += 1
            return False
        return True

    def stats(self) -> LogStats:
        """Counts so far."""
        with self._lock:
            return LogStats(self._written, self._dropped, self._failed, tuple(self._files))

    def close(self, timeout: float = 10.0) -> LogStats:
        """Write what is queued, close the file and stop the thread (once; later calls only
        return the counts).

        Args:
            timeout: Seconds to wait for the queue to drain.

        Returns:
            The final counts.
        """
        with self._closing:
            if self._closed:
                return self.stats()
            self._closed = True
            self._stopping.set()
            with contextlib.suppress(queue.Full):
                self._queue.put(_STOP, timeout=timeout)
            self._thread.join(timeout)
            stats = self.stats()
            if self._on_close is not None:
                self._on_close(stats)
            return stats

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            if batch[0] is not _STOP and self._interval and self._queue.qsize() < MAX_BATCH:
                self._stopping.wait(self._interval)
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            entries = [item for item in batch if item is not _STOP]
            stop = len(entries) < len(batch)
            if entries or (stop and self._has_unreported()):
                self._write(entries)
            if stop:
                self._close_file()
                return

    def _has_unreported(self) -> bool:
        with self._lock:
            return self._unreported > 0

    def _lines(self, entries: list[tuple[Any, ...]]) -> list[tuple[str, bytes, int]]:
        """(hour, line, requests in it) per entry, after a gap line for drops not yet written."""
        with self._lock:
            dropped, self._unreported = self._unreported, 0
        lines = []
        if dropped:
            ts = entries[0][0] if entries else self._clock()
            gap = {"ts": iso_time(ts), "model": self.model, "version": self.version,
                   "dropped": dropped}
            lines.append((hour_of(ts), _encode(gap), 0))
        failed = 0
        for ts, endpoint, request_id, records, result in entries:
            line = {"ts": iso_time(ts), "request_id": request_id, "model": self.model,
                    "version": self.version, "endpoint": endpoint, "records": records,
                    "predictions": result.get("predictions")}
            for key in ("classes", "probabilities"):
                if key in result:
                    line[key] = result[key]
            try:
                lines.append((hour_of(ts), _encode(line), 1))
            except (TypeError, ValueError):
                failed += 1
        if failed:
            self._count(failed=failed)
        return lines

    def _write(self, entries: list[tuple[Any, ...]]) -> None:
        """Write the entries, rotating by hour and size; each write holds whole lines."""
        pending: list[bytes] = []
        requests, waiting, tried = 0, 0, False
        for hour, line, count in self._lines(entries):
            full = self._size + waiting + len(line) > self.max_bytes
            if (hour != self._hour or (full and (self._size or pending))
                    or (self._fd is None and not tried)):
                if pending:
                    self._flush(pending, requests)
                    pending, requests, waiting = [], 0, 0
                self._open(hour)
                tried = True
            pending.append(line)
            requests += count
            waiting += len(line)
        if pending:
            self._flush(pending, requests)

    def _open(self, hour: str) -> None:
        """Close the current file and claim the next free name of `hour`."""
        self._close_file()
        self._hour, self._size = hour, 0
        try:
            names = os.listdir(self.directory)
        except OSError:
            names = []
        taken = [int(m.group(2)) for name in names
                 if (m := FILE_RE.match(name)) and m.group(1) == hour]
        number = max(taken, default=0) + 1
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        while True:
            path = self.directory / f"{FILE_PREFIX}{hour}-{number}{FILE_SUFFIX}"
            try:
                self._fd = os.open(path, flags, 0o644)
            except FileExistsError:
                number += 1
                continue
            except OSError as exc:
                LOG.warning("prediction log: cannot create %s (%s)", path, exc.strerror or exc)
                return
            with self._lock:
                self._files.append(path)
            return

    def _flush(self, lines: list[bytes], requests: int) -> None:
        """One write of whole lines; on an error the file is closed and the requests lost."""
        data = b"".join(lines)
        if self._fd is None:
            self._count(failed=requests)
            return
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:
            LOG.warning("prediction log: cannot write %s (%s); %d request(s) not logged",
                        self._files[-1] if self._files else self.directory,
                        exc.strerror or exc, requests)
            self._close_file()
            self._count(failed=requests)
            return
        self._size += len(data)
        self._count(written=requests)

    def _count(self, written: int = 0, failed: int = 0) -> None:
        with self._lock:
            self._written += written
            self._failed += failed

    def _close_file(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


def _encode(obj: Mapping[str, Any]) -> bytes:
    """One JSON line (ASCII, so no character inside it can read as a line break)."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode("ascii") + b"\n"

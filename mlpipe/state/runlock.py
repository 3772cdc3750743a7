"""One `mlpipe run` at a time per pipeline: an exclusive flock on `.mlpipe/<name>.runlock`.

The kernel drops the lock when its holder exits, even by SIGKILL, so a killed run never
leaves a stale lock behind. A second run waits briefly, then fails naming the holder.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlpipe.errors import RunLocked

DEFAULT_WAIT_S = 3.0
POLL_S = 0.05


def wait_seconds() -> float:
    """How long to wait for the lock: MLPIPE_LOCK_WAIT, or 3 seconds."""
    try:
        return float(os.environ.get("MLPIPE_LOCK_WAIT", DEFAULT_WAIT_S))
    except ValueError:
        return DEFAULT_WAIT_S


@contextmanager
def hold(path: Path, wait_s: float | None = None) -> Iterator[None]:
    """Hold the run lock for the body of the `with` block."""
    wait_s = wait_seconds() if wait_s is None else wait_s
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RunLocked(path, _holder(path), wait_s) from None
                time.sleep(POLL_S)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode())
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _holder(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip() or "unknown process"
    except OSError:
        return "unknown process"

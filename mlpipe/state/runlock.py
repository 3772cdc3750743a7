"""One `mlpipe run` at a time per pipeline: an exclusive flock on `.mlpipe/<name>.runlock`.

The kernel drops the lock when its holder exits, even by SIGKILL, so a killed run never
leaves a stale lock behind. Only the process that took the lock holds it: the descriptor is
closed on exec and, in every forked child (pool workers, a stage's process group), right
after the fork, so no process that outlives the run can keep the pipeline locked.

Processes that work on a stage's outputs hold a shared flock on `<name>.runlock-stages`
(see `share`) for as long as they live. A run that takes the run lock first waits until
nobody holds that one (`drain`): a stage process an earlier, killed run left behind must be
gone before this run clears, writes or records any output.

Who holds the run lock is written to `<name>.runlock-holder` by an atomic rename, right
after it is taken, and removed just before it is released; a run that finds the lock busy
reads it, and reads it again for a moment when it is missing or names a process that has
ended (the new holder has not renamed its file yet).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlpipe.errors import RunLocked, StageProcessesLeft

DEFAULT_WAIT_S = 3.0
POLL_S = 0.05
HOLDER_GRACE_S = 1.0  # how long a stale holder file may lag behind the lock's new holder

_held: set[int] = set()  # descriptors of run locks this process holds


def _close_inherited() -> None:
    """In a forked child: drop the copies of the parent's run-lock descriptors.

    Closing a copy does not unlock (the parent's descriptor still refers to the lock); it
    only makes sure the child never keeps the lock once the parent is gone.
    """
    for fd in _held:
        with contextlib.suppress(OSError):
            os.close(fd)
    _held.clear()


os.register_at_fork(after_in_child=_close_inherited)


def wait_seconds() -> float:
    """How long to wait for the lock: MLPIPE_LOCK_WAIT, or 3 seconds."""
    try:
        return float(os.environ.get("MLPIPE_LOCK_WAIT", DEFAULT_WAIT_S))
    except ValueError:
        return DEFAULT_WAIT_S


def holder_file(path: Path) -> Path:
    """Where the holder of the run lock at `path` says who it is."""
    return path.with_name(path.name + "-holder")


def stages_file(path: Path) -> Path:
    """What the processes working on stages of the run lock at `path` hold shared."""
    return path.with_name(path.name + "-stages")


@contextmanager
def hold(path: Path, wait_s: float | None = None) -> Iterator[None]:
    """Hold the run lock for the body of the `with` block, once no stage process of an
    earlier run is left.

    Raises:
        RunLocked: Another process held the lock for `wait_s` seconds.
        StageProcessesLeft: Processes of an earlier run still worked on its stages.
    """
    wait_s = wait_seconds() if wait_s is None else wait_s
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        deadline = time.monotonic() + wait_s
        while not _try_lock(fd, fcntl.LOCK_EX):
            if time.monotonic() >= deadline:
                raise RunLocked(path, read_holder(path), wait_s)
            time.sleep(POLL_S)
        _held.add(fd)
        _write_holder(path)
        try:
            drain(stages_file(path), wait_s)
            yield
        finally:
            _held.discard(fd)
            with contextlib.suppress(OSError):  # before unlocking: it is ours until then
                holder_file(path).unlink()
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def drain(path: Path, wait_s: float) -> None:
    """Wait until no process holds `path` shared (creating it when missing).

    Raises:
        StageProcessesLeft: Some process still held it after `wait_s` seconds.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        deadline = time.monotonic() + wait_s
        while not _try_lock(fd, fcntl.LOCK_EX):
            if time.monotonic() >= deadline:
                raise StageProcessesLeft(path, wait_s)
            time.sleep(POLL_S)
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def share(path: Path | None) -> Iterator[None]:
    """Hold `path` shared while a stage's work runs in this process (and in what it forks).

    Nothing when `path` is None or does not exist (a worker without the project's files).
    """
    if path is None:
        yield
        return
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def _try_lock(fd: int, mode: int) -> bool:
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _me() -> str:
    return f"pid {os.getpid()} on {socket.gethostname()}"


def _write_holder(path: Path) -> None:
    """Say who holds the lock: a temporary file renamed over the holder file, never torn."""
    target = holder_file(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}")
    tmp.write_text(_me(), encoding="utf-8")
    os.replace(tmp, target)


def read_holder(path: Path, grace_s: float = HOLDER_GRACE_S) -> str:
    """Who holds the run lock at `path`, as its holder file says.

    A holder file that names an ended process on this host is re-read for up to `grace_s`
    seconds: the process that took the lock since is about to replace it.
    """
    deadline = time.monotonic() + grace_s
    while True:
        text = _read(holder_file(path))
        if text and _alive(text):
            return text
        if time.monotonic() >= deadline:
            return f"{text}, which has ended" if text else "its holder did not say who it is"
        time.sleep(POLL_S / 5)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def _alive(holder: str) -> bool:
    """Whether `pid N on HOST` names a live process (True for another host: cannot tell)."""
    parts = holder.split()
    if len(parts) != 4 or parts[0] != "pid" or not parts[1].isdigit():
        return False
    if parts[3] != socket.gethostname():
        return True
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

"""One producer per stage key: an exclusive flock on `.mlpipe/locks/<key>` while a stage with
that key runs.

Runs that share a cache (experiments, each in its own worktree) may reach the same stage with
the same key at once. The second one waits for the lock, then finds the first one's result in
the run-cache and restores it instead of running the stage again. The kernel drops a lock when
its holder exits, even by SIGKILL.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


def acquire(locks_dir: Path, key: str) -> int:
    """Wait for the lock on `key`; returns the descriptor that holds it."""
    locks_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(locks_dir / key, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return fd


def release(fd: int) -> None:
    """Give the lock back."""
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)

"""Worker processes that die with the run that forked them.

A pool worker of `run -j N` whose run is killed would otherwise wait for work forever. On
Linux the kernel sends it SIGKILL when its parent ends (`prctl(PR_SET_PDEATHSIG)`); elsewhere
a thread watches the parent's pid. Either way the worker's own stage processes, each group
watching its worker (see `deadline`), end with it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
WATCH_POLL_S = 0.2


def bind_to_parent(parent: int) -> None:
    """In a forked worker: end this process when `parent` (its parent) ends."""
    if not _death_signal(signal.SIGKILL):
        threading.Thread(target=_watch, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # the parent ended before the signal was asked for
        os._exit(1)


def _death_signal(signum: int) -> bool:
    """Ask the kernel for `signum` when the parent ends; False where that cannot be had."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_POLL_S)
    os.kill(os.getpid(), signal.SIGKILL)

"""Running a serving app: listen first (a busy port is one clear error), then serve with
uvicorn in one process, or in N forked processes sharing the listening socket.

The model is loaded before the fork, so the worker processes share its memory until they
write to it. This module imports nothing from mlpipe, so bundles can ship it as is.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.types import ASGIApp


class ServerStartError(OSError):
    """The server could not listen on its address (port in use, no permission...)."""


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port), ready for uvicorn.

    Raises:
        ServerStartError: The address cannot be used; the message says which and why.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        reason = ("the port is already in use" if exc.errno == 98 else
                  exc.strerror or str(exc))
        raise ServerStartError(f"cannot listen on {host}:{port}: {reason}") from None
    sock.set_inheritable(True)
    return sock


# Predictions run in worker threads; a short switch interval hands the interpreter back to
# the event loop within about a millisecond, so probes stay quick while a batch is scored.
SWITCH_INTERVAL = 0.001
_PR_SET_PDEATHSIG = 1


def _serve(app: ASGIApp, sock: socket.socket, log_level: str) -> None:
    import uvicorn

    sys.setswitchinterval(SWITCH_INTERVAL)
    config = uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=10)
    uvicorn.Server(config).run(sockets=[sock])


def _die_with(parent: int) -> None:
    """Have the kernel stop this worker when its parent dies, even by SIGKILL (Linux)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the parent's signal handler still forwards
        return
    if os.getppid() != parent:  # the parent died before the request was made
        os._exit(0)


def run_server(app: ASGIApp, sock: socket.socket, log_level: str = "info",
               workers: int = 1) -> None:
    """Serve `app` on the listening `sock` until interrupted.

    Args:
        app: The app.
        sock: A socket from `listen`.
        log_level: uvicorn's log level.
        workers: Processes answering requests (forked; each a copy of this one).
    """
    if workers <= 1:
        _serve(app, sock, log_level)
        return
    children: list[int] = []
    parent = os.getpid()
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # the worker: serve until told to stop, then leave without cleanup
            code = 0
            try:
                _die_with(parent)
                _serve(app, sock, log_level)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        children.append(pid)

    def forward(signum: int, frame: Any) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for child in children:
            while True:
                try:
                    os.waitpid(child, 0)
                    break
                except ChildProcessError:
                    break
                except InterruptedError:
                    continue
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sock.close()

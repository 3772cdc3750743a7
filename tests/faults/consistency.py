"""Real `mlpipe` processes, and the checks that what they leave behind is consistent."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from mlpipe.models.registry import Registry
from mlpipe.state import lockfile
from mlpipe.state.history import History
from mlpipe.state.objects import ObjectStore
from mlpipe.state.runcache import parse_entry
from mlpipe.state.workspace import Workspace


def start(root: Path, *args: str, lock_wait: float = 0.5) -> subprocess.Popen[str]:
    """`python -m mlpipe ARGS` in `root`, as the leader of its own process group."""
    env = {**os.environ, "MLPIPE_LOCK_WAIT": str(lock_wait)}
    env.pop("NO_COLOR", None)
    return subprocess.Popen([sys.executable, "-m", "mlpipe", *args], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def run(root: Path, *args: str, lock_wait: float = 0.5, timeout: float = 120
        ) -> subprocess.CompletedProcess[str]:
    """`python -m mlpipe ARGS` in `root`, to the end."""
    proc = start(root, *args, lock_wait=lock_wait)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        kill(proc)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def kill(proc: subprocess.Popen[str]) -> None:
    """SIGKILL a process started by `start` and everything in its group, then reap it.

    Its output pipes are closed, not drained: a process outside the group that inherited
    them must not keep the caller waiting.
    """
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def wait_until(check: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    """Poll `check()` until it is true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def dead(pid: int) -> bool:
    """Whether a process is gone (or a zombie waiting to be reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def integrity(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def assert_consistent(root: Path) -> None:
    """The lock file parses (or is absent), every output it and the run-cache name is in the
    store, every SQLite database passes its integrity check, the history reads, and every
    registered model version's object exists and matches its digest."""
    ws = Workspace.for_file(root / "mlpipe.yaml")
    store = ObjectStore(ws.objects_dir)
    for name, entry in lockfile.read(ws.lock_file).items():
        for path, digest in entry.outs.items():
            assert store.has(digest), f"lock: {name} {path} {digest} not in the store"
    for entry_file in ws.runs_dir.glob("*/*.json"):
        entry = parse_entry(entry_file.read_bytes())
        assert store.has_all(entry.outs), f"run-cache entry {entry_file} names missing objects"
    for db in ws.state_dir.glob("*.db"):
        assert integrity(db) == "ok", db
    History(ws.history_db).rows()
    registry = Registry(ws.state_dir)
    for version in registry.list():
        registry.model_path(version)

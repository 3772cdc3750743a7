"""A real local dask cluster for a test module, real `mlpipe` processes, and a probe stage that
records which process ran it and when."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Stage commands run this interpreter (it has psutil, which the probes use), whatever is first
# on PATH.
PYTHON = shlex.quote(sys.executable)

# A command stage's script: `python probe.py NAME SECONDS` records the pids and command lines
# of its ancestors (one of them is the dask worker that ran it) and when it started and ended.
PROBE = """\
import json, sys, time
import psutil
name, seconds = sys.argv[1], float(sys.argv[2])
start = time.time()
time.sleep(seconds)
parents = psutil.Process().parents()
record = {"ancestors": [p.pid for p in parents],
          "commands": [" ".join(p.cmdline()) for p in parents],
          "start": start, "end": time.time()}
with open(f"out/{name}.json", "w") as f:
    json.dump(record, f)
"""


@dataclass(frozen=True)
class Cluster:
    """A running LocalCluster and a client of it (the test's own, not mlpipe's)."""

    address: str
    client: Any

    def worker_pids(self) -> dict[str, int]:
        """Worker address -> pid of that worker process, as they are now."""
        return dict(self.client.run(os.getpid))


@contextlib.contextmanager
def local_cluster(workers: int = 2) -> Iterator[Cluster]:
    """A cluster of `workers` worker processes with one thread each, and no dashboard."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as cluster, \
            Client(cluster, set_as_default=False) as client:
        yield Cluster(cluster.scheduler_address, client)


def start(root: Path, *args: str) -> subprocess.Popen[str]:
    """`python -m mlpipe ARGS` in `root`, in its own process group, output in plain lines."""
    env = {**os.environ, "MLPIPE_LOCK_WAIT": "0.5", "NO_COLOR": "1"}
    return subprocess.Popen([sys.executable, "-m", "mlpipe", *args], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def finish(proc: subprocess.Popen[str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """Wait for a process from `start`; kill its group if it outlives `timeout`."""
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def run(root: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """`python -m mlpipe ARGS` in `root`, to the end."""
    return finish(start(root, *args), timeout)


def probed(root: Path, name: str) -> dict[str, Any]:
    """What the probe stage `name` recorded."""
    return json.loads((root / "out" / f"{name}.json").read_text())


def probe_stage(name: str, seconds: float = 0.0) -> str:
    """A pipeline-file entry for a probe stage."""
    return (f"  {name}:\n    kind: command\n    cmd: {PYTHON} probe.py {name} {seconds}\n"
            f"    deps: [probe.py]\n    outs: [out/{name}.json]\n")


def wait_until(check: Callable[[], object], what: str, timeout: float = 60.0) -> None:
    """Poll `check()` until it is true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def dead(pid: int) -> bool:
    """Whether a process is gone (or a zombie waiting to be reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True

"""The run-lock message names the process that holds the lock, even while other processes
take and release it as fast as they can (the holder file is never read torn or empty)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import Invoke, git_commit, git_init, write_tree

from mlpipe.state.workspace import Workspace

CHURN = """
import sys, time
from pathlib import Path
from mlpipe.state import runlock
stop = time.monotonic() + float(sys.argv[2])
print("ready", flush=True)
while time.monotonic() < stop:
    with runlock.hold(Path(sys.argv[1]), wait_s=30):
        time.sleep(0.001)
"""
ATTEMPTS = 20


def test_a_busy_lock_always_names_a_live_holder(
        project: Path, mlpipe: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    git_init(project)
    write_tree(project, {"mlpipe.yaml": """
        stages:
          one:
            kind: command
            cmd: echo 1 > one.txt
            outs: [one.txt]
        """})
    git_commit(project)
    assert mlpipe("run").exit_code == 0
    lock = Workspace.for_file(project / "mlpipe.yaml").run_lock
    churners = [subprocess.Popen([sys.executable, "-c", CHURN, str(lock), "60"],
                                 stdout=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        for churner in churners:
            assert churner.stdout is not None and churner.stdout.readline() == "ready\n"
        pids = {str(c.pid) for c in churners}
        monkeypatch.setenv("MLPIPE_LOCK_WAIT", "0")
        refused = []
        for _ in range(ATTEMPTS):
            result = mlpipe("run")
            if result.exit_code != 0:
                refused.append(result.stderr.strip())
    finally:
        for churner in churners:
            churner.kill()
            churner.wait()
    assert len(refused) > ATTEMPTS // 4
    for message in refused:
        assert "another mlpipe run holds" in message, message
        assert "unknown process" not in message, message
        assert "has ended" not in message, message
        assert message.split("(pid ", 1)[1].split()[0] in pids, message


def test_thousands_of_refusals_under_churn_all_name_a_holder(tmp_path: Path) -> None:
    from mlpipe.errors import RunLocked
    from mlpipe.state import runlock

    lock = tmp_path / ".mlpipe" / "p.runlock"
    lock.parent.mkdir()
    churners = [subprocess.Popen([sys.executable, "-c", CHURN, str(lock), "60"],
                                 stdout=subprocess.PIPE, text=True) for _ in range(2)]
    holders: list[str] = []
    try:
        for churner in churners:
            assert churner.stdout is not None and churner.stdout.readline() == "ready\n"
        # as many refusals as a busy machine gives in a bounded time (the old code named no
        # holder in about a quarter of them)
        deadline = time.monotonic() + 45
        attempts = 0
        while len(holders) < 1000 and time.monotonic() < deadline and attempts < 200_000:
            attempts += 1
            try:
                with runlock.hold(lock, wait_s=0):
                    pass
            except RunLocked as exc:
                holders.append(exc.holder)
    finally:
        for churner in churners:
            churner.kill()
            churner.wait()
    pids = {str(c.pid) for c in churners}
    assert len(holders) >= 100, f"{len(holders)} refusals in {attempts} attempts"
    assert [h for h in holders if h.split()[:1] != ["pid"] or h.split()[1] not in pids] == []

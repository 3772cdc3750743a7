"""Real `mlpipe` processes: two runs at once, a run killed mid-stage, exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import write_tree

SLOW = """
stages:
  slow:
    kind: command
    cmd: echo started > started.txt && sleep 30 && echo done > slow.txt
    outs: [slow.txt]
  after:
    kind: command
    cmd: cp slow.txt after.txt
    deps: [slow.txt]
    outs: [after.txt]
"""


def mlpipe_process(root: Path, *args: str, wait_s: str = "0.3") -> subprocess.Popen[str]:
    env = {**os.environ, "MLPIPE_LOCK_WAIT": wait_s}
    return subprocess.Popen([sys.executable, "-m", "mlpipe", *args], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def wait_for(path: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_second_run_fails_naming_the_holder(tmp_path: Path) -> None:
    write_tree(tmp_path, {"mlpipe.yaml": SLOW})
    first = mlpipe_process(tmp_path, "run")
    try:
        wait_for(tmp_path / "started.txt")
        second = mlpipe_process(tmp_path, "run")
        _, err = second.communicate(timeout=30)
        assert second.returncode == 1
        assert f"another mlpipe run holds {tmp_path}/.mlpipe/mlpipe.runlock " \
               f"(pid {first.pid} on" in err
        assert len(err.strip().splitlines()) == 1
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()


def test_killed_run_leaves_a_consistent_state(tmp_path: Path) -> None:
    write_tree(tmp_path, {"mlpipe.yaml": SLOW.replace("sleep 30", "sleep ${params.s}")
                          .replace("stages:", "params:\n  s: 30\nstages:", 1)})
    first = mlpipe_process(tmp_path, "run")
    wait_for(tmp_path / "started.txt")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert not (tmp_path / "mlpipe.lock").exists()
    status = subprocess.run([sys.executable, "-m", "mlpipe", "status", "--json"], cwd=tmp_path,
                            capture_output=True, text=True, check=True)
    assert json.loads(status.stdout)["stages"][0]["reasons"] == ["never ran"]
    rerun = subprocess.run([sys.executable, "-m", "mlpipe", "run", "--json", "-S", "s=0"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60,
                           env={**os.environ, "MLPIPE_LOCK_WAIT": "5"})
    assert rerun.returncode == 0, rerun.stderr
    assert [s["status"] for s in json.loads(rerun.stdout)["stages"]] == ["ran", "ran"]


def test_exit_codes_of_the_console_script(tmp_path: Path) -> None:
    write_tree(tmp_path, {"mlpipe.yaml": "stages:\n  bad:\n    kind: command\n    cmd: exit 4\n"})
    failed = subprocess.run([sys.executable, "-m", "mlpipe", "run"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert failed.returncode == 1
    assert "bad: failed" in failed.stdout and "exit" in failed.stdout
    (tmp_path / "mlpipe.yaml").write_text("stages: [\n")
    invalid = subprocess.run([sys.executable, "-m", "mlpipe", "run"], cwd=tmp_path,
                             capture_output=True, text=True)
    assert invalid.returncode == 2
    assert invalid.stderr.startswith("mlpipe: error: ")
    assert "Traceback" not in invalid.stderr


def test_plain_output_when_not_a_terminal(tmp_path: Path) -> None:
    write_tree(tmp_path, {"mlpipe.yaml": "stages:\n  a:\n    kind: command\n"
                                         "    cmd: echo hi > a.txt\n    outs: [a.txt]\n"})
    result = subprocess.run([sys.executable, "-m", "mlpipe", "run"], cwd=tmp_path,
                            capture_output=True, text=True, check=True)
    assert result.stdout.splitlines()[:2] == ["a: running (never ran)",
                                              result.stdout.splitlines()[1]]
    assert result.stdout.splitlines()[1].startswith("a: ran in ")
    assert "\x1b[" not in result.stdout

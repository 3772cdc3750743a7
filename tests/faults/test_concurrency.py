"""Several real `mlpipe run` at once on one pipeline: each stage runs exactly once; the other
runs wait for the lock, or give up with one line naming its holder."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from conftest import counted, git_commit, git_init, runs_of, write_tree
from consistency import assert_consistent, kill, start, wait_until

from mlpipe.models.registry import Registry
from mlpipe.state.history import History

GATED = counted("prepare", "while [ ! -f go ]; do sleep 0.02; done && echo data > data.txt")
PIPELINE = f"""
stages:
  prepare:
    kind: command
    cmd: {GATED}
    outs: [data.txt]
  fit:
    kind: command
    cmd: {counted("fit", "cp data.txt model.bin && echo {} > meta.json")}
    deps: [data.txt]
    outs: [model.bin, meta.json]
  score:
    kind: command
    cmd: {counted("score", "echo 0.9 > score.txt")}
    deps: [model.bin]
    outs: [score.txt]
  register:
    kind: register
    name: demo
    model: model.bin
    meta: meta.json
"""
COUNTED = ("prepare", "fit", "score")


def project(root: Path, gate_open: bool) -> None:
    git_init(root)
    write_tree(root, {"mlpipe.yaml": PIPELINE, **({"go": ""} if gate_open else {})})
    git_commit(root)


def assert_each_stage_ran_once(root: Path) -> None:
    assert {stage: runs_of(root, stage) for stage in COUNTED} == dict.fromkeys(COUNTED, 1)
    ran = [row.stage for row in History(root / ".mlpipe" / "runs.db").rows()
           if row.status == "ran"]
    assert sorted(ran) == sorted([*COUNTED, "register"])
    assert [v.ref for v in Registry(root / ".mlpipe").list()] == ["demo:1"]
    assert_consistent(root)


@pytest.mark.parametrize("runs", [2, 8])
def test_runs_that_wait_find_the_work_done(tmp_path: Path, runs: int) -> None:
    project(tmp_path, gate_open=True)
    procs = [start(tmp_path, "run", "--json", lock_wait=120) for _ in range(runs)]
    results = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * runs, [err for _, err in results]
    reports = sorted(tuple(s["status"] for s in json.loads(out)["stages"])
                     for out, _ in results)
    assert reports == [("cached",) * 4] * (runs - 1) + [("ran",) * 4]
    assert_each_stage_ran_once(tmp_path)


def test_runs_that_cannot_wait_fail_naming_the_holder(tmp_path: Path) -> None:
    project(tmp_path, gate_open=False)
    procs = [start(tmp_path, "run", lock_wait=1) for _ in range(8)]
    try:
        wait_until(lambda: sum(proc.poll() is not None for proc in procs) == 7,
                   "seven runs to give up", timeout=90)
        (holder,) = [proc for proc in procs if proc.poll() is None]
        lock = tmp_path / ".mlpipe" / "mlpipe.runlock"
        expected = (f"mlpipe: error: another mlpipe run holds {lock} "
                    f"(pid {holder.pid} on {socket.gethostname()}); waited 1s.")
        for proc in procs:
            if proc is holder:
                continue
            out, err = proc.communicate()
            assert proc.returncode == 1
            assert err.splitlines() == [err.rstrip("\n")]
            assert err.startswith(expected), err
            assert "Traceback" not in err and out == ""
        (tmp_path / "go").write_text("")
        holder.communicate(timeout=60)
        assert holder.returncode == 0
    finally:
        for proc in procs:
            kill(proc)
    assert_each_stage_ran_once(tmp_path)

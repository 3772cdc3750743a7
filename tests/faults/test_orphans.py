"""SIGKILL of the `mlpipe` process alone (its workers and stage processes are not killed):
nothing it started outlives it, the pipeline is not left locked, and no later run records
outputs that a process of the killed run is still writing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import Invoke, counted, git_commit, git_init, runs_of, write_tree
from consistency import assert_consistent, kill, run, start, wait_until

from mlpipe import kinds
from mlpipe.kinds.plugin import StageContext, StageKind, StageResult, output_path
from mlpipe.state import lockfile

WAITING = """
stages:
  left:
    kind: command
    cmd: {left}
    outs: [left.txt]
  right:
    kind: command
    cmd: {right}
    outs: [right.txt]
  both:
    kind: command
    cmd: cat left.txt right.txt > both.txt
    deps: [left.txt, right.txt]
    outs: [both.txt]
"""


def waiting_pipeline() -> str:
    """Two stages that each wait for a `go` file, and one after both."""
    wait = "while [ ! -f go ]; do sleep 0.02; done"
    return WAITING.format(left=counted("left", f"{wait} && echo left > left.txt"),
                          right=counted("right", f"{wait} && echo right > right.txt"))


def session_members(sid: int) -> list[int]:
    """Live (not zombie) processes of the session `sid` (the killed run's own session)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def kill_parent(proc: subprocess.Popen[str]) -> None:
    """SIGKILL only the `mlpipe` process, not its group; reap it."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def statuses(stdout: str) -> dict[str, str]:
    return {s["name"]: s["status"] for s in json.loads(stdout)["stages"]}


def project(root: Path, pipeline: str) -> None:
    git_init(root)
    write_tree(root, {"mlpipe.yaml": pipeline})
    git_commit(root)


RUNS = [("-j", "1"), ("-j", "2"), ("--executor", "dask", "--workers", "2")]


@pytest.mark.parametrize("group", [False, True], ids=["parent", "group"])
@pytest.mark.parametrize("how", RUNS, ids=["j1", "j2", "dask"])
def test_a_killed_run_ends_every_process_it_started_and_frees_the_lock(
        tmp_path: Path, how: tuple[str, ...], group: bool) -> None:
    project(tmp_path, waiting_pipeline())
    proc = start(tmp_path, "run", *how)
    started = ["left"] if how == ("-j", "1") else ["left", "right"]
    wait_until(lambda: all(runs_of(tmp_path, s) == 1 for s in started), "the stages to start",
               timeout=60)
    if group:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    else:
        kill_parent(proc)
    try:
        wait_until(lambda: not session_members(proc.pid), "the killed run's processes to end",
                   timeout=15)
    finally:
        for pid in session_members(proc.pid):
            os.kill(pid, signal.SIGKILL)
        kill(proc)
    assert not (tmp_path / "left.txt").exists()  # nothing went on with the killed run's work

    (tmp_path / "go").write_text("")
    again = run(tmp_path, "run", "--json", *how)
    assert again.returncode == 0, again.stderr
    assert statuses(again.stdout) == {"left": "ran", "right": "ran", "both": "ran"}
    assert (tmp_path / "both.txt").read_text() == "left\nright\n"
    assert_consistent(tmp_path)


WRITER = """
params:
  count: 1000
stages:
  shards:
    kind: command
    cmd: {cmd}
    outs: [shards]
"""
SHARDS = counted("shards", "mkdir -p shards && i=0 && while [ $i -lt ${params.count} ]; do "
                           "echo $i > shards/$i.txt; i=$((i+1)); sleep 0.01; done")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_killed_runs_stage_stops_writing_before_the_next_run_records(
        tmp_path: Path, jobs: str) -> None:
    project(tmp_path, WRITER.format(cmd=SHARDS))
    for trial in range(3):
        proc = start(tmp_path, "run", "-j", jobs)
        wait_until(lambda: len(list((tmp_path / "shards").glob("*.txt"))) > 10,
                   "the stage to write", timeout=60)
        kill_parent(proc)
        again = run(tmp_path, "run", "--json", "-j", jobs, "-S", f"count={5 + trial}")
        kill(proc)
        assert again.returncode == 0, again.stderr
        time.sleep(0.3)  # an orphan still writing would add files meanwhile
        names = sorted(p.name for p in (tmp_path / "shards").iterdir())
        assert names == sorted(f"{i}.txt" for i in range(5 + trial)), trial
        entry = lockfile.read(tmp_path / "mlpipe.lock")["shards"]
        status = run(tmp_path, "status", "--json", "-S", f"count={5 + trial}")
        assert [s["stale"] for s in json.loads(status.stdout)["stages"]] == [False], entry
        assert_consistent(tmp_path)


BACKGROUND = """
stages:
  logs:
    kind: command
    cmd: >-
      mkdir -p logs && echo start > logs/a.txt &&
      { (while true; do echo x >> logs/b.txt; sleep 0.01; done) & }
    outs: [logs]
"""


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_what_a_stage_left_running_in_the_background_ends_with_the_stage(
        tmp_path: Path, jobs: str) -> None:
    project(tmp_path, BACKGROUND)
    done = run(tmp_path, "run", "--json", "-j", jobs)
    assert done.returncode == 0, done.stderr
    assert statuses(done.stdout) == {"logs": "ran"}
    recorded = lockfile.read(tmp_path / "mlpipe.lock")["logs"].outs["logs"]
    first = sorted((p.name, p.read_bytes()) for p in (tmp_path / "logs").iterdir())
    time.sleep(0.3)
    assert sorted((p.name, p.read_bytes()) for p in (tmp_path / "logs").iterdir()) == first
    status = run(tmp_path, "status", "--json")
    assert json.loads(status.stdout)["stages"][0]["stale"] is False, recorded
    assert_consistent(tmp_path)


FILLER = """
import os, sys, time
root, stop = sys.argv[1], time.monotonic() + float(sys.argv[2])
n = 0
while time.monotonic() < stop:
    d = os.path.join(root, "shards", f"d{n % 50}")
    try:
        os.makedirs(d, exist_ok=True)
        open(os.path.join(d, f"{n}.txt"), "w").close()
    except OSError:
        pass
    n += 1
"""


def test_a_concurrent_writer_never_makes_clearing_outputs_a_traceback(tmp_path: Path) -> None:
    project(tmp_path, WRITER.format(cmd=SHARDS))
    assert run(tmp_path, "run", "-S", "count=3").returncode == 0
    for count in range(4, 9):
        filler = subprocess.Popen([sys.executable, "-c", FILLER, str(tmp_path), "3"])
        try:
            result = run(tmp_path, "run", "-S", f"count={count}")
        finally:
            filler.wait()
        out = result.stdout + result.stderr
        assert "Traceback" not in out and "Directory not empty" not in out.split("(")[0], out
        assert result.returncode in (0, 1), out
        if result.returncode == 1:
            assert any("cannot clear output shards" in ln or "changed while" in ln
                       for ln in out.splitlines()), out


def test_an_output_that_cannot_be_cleared_fails_the_stage_in_one_line(tmp_path: Path) -> None:
    project(tmp_path, BLOCKED)
    assert run(tmp_path, "run", "-S", "v=1").returncode == 0
    (tmp_path / "sub").rename(tmp_path / "sub.saved")
    (tmp_path / "sub").write_text("a file where the output's directory was")
    failed = run(tmp_path, "run", "-S", "v=2")
    assert failed.returncode == 1
    out = failed.stdout + failed.stderr
    assert "Traceback" not in out
    lines = [ln for ln in out.splitlines() if "cannot clear output sub/out.txt" in ln]
    assert len(lines) == 1, out
    assert lockfile.read(tmp_path / "mlpipe.lock")["made"].params == {"v": 1}
    assert_consistent(tmp_path)


BLOCKED = """
params:
  v: 1
stages:
  made:
    kind: command
    cmd: mkdir -p sub && echo ${params.v} > sub/out.txt
    outs: [sub/out.txt]
"""


STOP_WRITING = threading.Event()


@kinds.add_kind
class KeepsWriting(StageKind):
    """Writes `data/a.txt`, then leaves a thread appending to `data/b.txt` until told to stop
    (like a process that goes on writing an output while it is recorded)."""

    name = "keeps_writing"

    def outputs(self, stage: str, config: dict) -> dict[str, str]:
        return {"data": output_path(stage, "data")}

    def run(self, ctx: StageContext) -> StageResult:
        folder = ctx.root / ctx.stage.outputs["data"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "a.txt").write_text("a")

        def append() -> None:
            with (folder / "b.txt").open("a") as out:
                while not STOP_WRITING.is_set():
                    out.write("x")
                    out.flush()

        threading.Thread(target=append, daemon=True).start()
        return StageResult()


def test_outputs_that_change_while_recorded_are_not_recorded(
        project: Path, mlpipe: Invoke) -> None:
    git_init(project)
    write_tree(project, {"mlpipe.yaml": """
        stages:
          busy:
            kind: keeps_writing
        """})
    git_commit(project)
    STOP_WRITING.clear()
    try:
        result = mlpipe("run")
    finally:
        STOP_WRITING.set()
    assert result.exit_code == 1, result.output
    assert "its outputs changed while they were being recorded" in result.output
    assert not (project / "mlpipe.lock").exists()
    assert not list((project / ".mlpipe" / "cache" / "runs").glob("*/*.json"))

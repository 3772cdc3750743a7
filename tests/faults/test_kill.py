"""SIGKILL of a real `mlpipe run`: in the middle of a stage, and at random points of a run that
rewrites the lock file after every stage and registers models."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest
from conftest import Invoke, counted, git_commit, git_init, runs_of, write_tree
from consistency import assert_consistent, kill, run, start, wait_until

from mlpipe.models.registry import Registry
from mlpipe.state import lockfile
from mlpipe.state.hashing import hash_file
from mlpipe.state.history import History
from mlpipe.state.objects import ObjectStore
from mlpipe.state.workspace import Workspace

HALF = counted("half", "printf 'first half of v${params.version}' > out.txt && "
                       "while [ ! -f go ]; do sleep 0.02; done && "
                       "printf ', second half' >> out.txt")
MID_STAGE = f"""
params:
  version: 1
stages:
  half:
    kind: command
    cmd: {HALF}
    outs: [out.txt]
  after:
    kind: command
    cmd: cp out.txt after.txt
    deps: [out.txt]
    outs: [after.txt]
"""


def stage_statuses(stdout: str) -> dict[str, str]:
    return {s["name"]: s["status"] for s in json.loads(stdout)["stages"]}


def _text(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def test_a_stage_killed_midway_is_run_again_and_its_half_output_never_recorded(
        tmp_path: Path) -> None:
    git_init(tmp_path)
    write_tree(tmp_path, {"mlpipe.yaml": MID_STAGE, "go": ""})
    git_commit(tmp_path)
    assert run(tmp_path, "run").returncode == 0
    ws = Workspace.for_file(tmp_path / "mlpipe.yaml")
    before = lockfile.read(ws.lock_file)

    (tmp_path / "go").unlink()
    (tmp_path / "mlpipe.yaml").write_text(MID_STAGE.replace("version: 1", "version: 2"))
    proc = start(tmp_path, "run")
    out = tmp_path / "out.txt"
    # the run removes v1's out.txt before the stage writes v2's: read it without racing that
    wait_until(lambda: _text(out) == "first half of v2", "half output")
    kill(proc)

    assert_consistent(tmp_path)
    assert lockfile.read(ws.lock_file) == before
    half = hash_file(out)
    assert not ObjectStore(ws.objects_dir).has(half)
    assert half not in ws.lock_file.read_text()
    assert all(half not in p.read_text() for p in ws.runs_dir.glob("*/*.json"))
    assert [r.status for r in History(ws.history_db).rows("half")] == ["ran"]
    status = run(tmp_path, "status", "--json")
    assert status.returncode == 0, status.stderr
    assert [s["stale"] for s in json.loads(status.stdout)["stages"]] == [True, True]

    (tmp_path / "go").write_text("")
    rerun = run(tmp_path, "run", "--json")
    assert rerun.returncode == 0, rerun.stderr
    assert stage_statuses(rerun.stdout) == {"half": "ran", "after": "ran"}
    assert out.read_text() == (tmp_path / "after.txt").read_text() == \
        "first half of v2, second half"
    assert runs_of(tmp_path, "half") == 3

    (tmp_path / "mlpipe.yaml").write_text(MID_STAGE)
    back = run(tmp_path, "run", "--json")
    assert stage_statuses(back.stdout) == {"half": "restored", "after": "restored"}
    assert out.read_text() == "first half of v1, second half"
    assert_consistent(tmp_path)


STAGES = 10


def many_stages() -> str:
    """A chain of small stages (each rewrites the lock file) with two model registrations."""
    lines = ["params:", "  round: 0", "stages:"]
    for i in range(STAGES):
        dep = f"\n    deps: [out/s{i - 1}.txt]" if i else ""
        lines.append(f"""  s{i}:
    kind: command
    cmd: {counted(f"s{i}", f"mkdir -p out && echo s{i} r${{params.round}} > out/s{i}.txt")}{dep}
    outs: [out/s{i}.txt]""")
        if i in (STAGES // 2, STAGES - 1):
            lines.append(f"""  model{i}:
    kind: command
    cmd: printf 'model {i} r${{params.round}}' > m{i}.bin && echo {{}} > m{i}.json
    deps: [out/s{i}.txt]
    outs: [m{i}.bin, m{i}.json]
  register{i}:
    kind: register
    name: model{i}
    model: m{i}.bin
    meta: m{i}.json
    alias: champion""")
    return "\n".join(lines) + "\n"


def test_random_sigkills_leave_lock_history_and_registry_valid(
        tmp_path: Path, mlpipe: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    git_init(tmp_path)
    write_tree(tmp_path, {"mlpipe.yaml": many_stages()})
    git_commit(tmp_path)
    assert run(tmp_path, "run", "-j", "2").returncode == 0
    lock_file = tmp_path / "mlpipe.lock"
    every_stage = set(lockfile.read(lock_file))
    assert len(every_stage) == STAGES + 4
    rng = random.Random(7)
    for round_ in range(1, STAGES + 1):
        target = f"s{round_ - 1}"  # kill soon after a later stage each time
        ran = runs_of(tmp_path, target)
        proc = start(tmp_path, "run", "-S", f"round={round_}", "-j", str(1 + round_ % 2))
        wait_until(lambda t=target, n=ran: runs_of(tmp_path, t) > n, f"stage {target}")
        time.sleep(rng.uniform(0, 0.3))
        kill(proc)
        assert_consistent(tmp_path)
        assert set(lockfile.read(lock_file)) == every_stage
        status = mlpipe("status", "--json")
        assert status.exit_code == 0, status.output
        assert len(json.loads(status.stdout)["stages"]) == STAGES + 4
    final = run(tmp_path, "run", "-S", "round=99", "--json")
    assert final.returncode == 0, final.stderr
    assert set(stage_statuses(final.stdout).values()) == {"ran"}
    assert_consistent(tmp_path)
    registry = Registry(tmp_path / ".mlpipe")
    for i in (STAGES // 2, STAGES - 1):
        champion = registry.get(f"model{i}@champion")
        assert champion.digest == hash_file(tmp_path / f"m{i}.bin")

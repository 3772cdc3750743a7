"""`mlpipe exp`: a grid run side by side in worktrees that share the cache, the runs table,
apply, branch, remove, the queue, two clones exchanging experiments, and a killed experiment.

The stage commands append to files under $COUNTS (outside every worktree), so "the shared
ingest ran once" is counted, not inferred.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import PY, Invoke, git, git_commit, git_init, statuses, write_tree

PARAMS = "prep:\n  rows: 10\ntrain:\n  a: 1   # strength\n  b: 1\n"
INGEST = """\
import os, yaml
open(os.path.join(os.environ["COUNTS"], "ingest"), "a").write("x\\n")
rows = yaml.safe_load(open("params.yaml"))["prep"]["rows"]
open("data.txt", "w").write("\\n".join(str(i) for i in range(rows)))
"""
TRAIN = """\
import json, os, time, yaml
open(os.path.join(os.environ["COUNTS"], "train"), "a").write("x\\n")
if os.environ.get("SLOW"):
    open(os.path.join(os.environ["COUNTS"], "started"), "w").close()
    time.sleep(60)
p = yaml.safe_load(open("params.yaml"))["train"]
rows = len(open("data.txt").read().split())
json.dump({"score": p["a"] * 10 + p["b"] + rows / 100, "loss": 1 / (p["a"] * p["b"])},
          open("metrics.json", "w"))
open("model.txt", "w").write(f"{p['a']} {p['b']}")
"""
PIPELINE = """\
params_file: params.yaml
stages:
  ingest:
    kind: command
    cmd: python ingest.py
    deps: [ingest.py]
    params: [prep]
    outs: [data.txt]
  train:
    kind: command
    cmd: python train.py
    deps: [train.py, data.txt]
    params: [train]
    outs: [model.txt]
    metrics: [metrics.json]
"""
GRID = ("-S", "train.a=1,2,3", "-S", "train.b=1,2")


@pytest.fixture
def counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    where = tmp_path / "counts"
    where.mkdir()
    monkeypatch.setenv("COUNTS", str(where))
    return where


def _count(counts: Path, stage: str) -> int:
    path = counts / stage
    return len(path.read_text().splitlines()) if path.exists() else 0


def _project(root: Path) -> None:
    git_init(root)
    write_tree(root, {"params.yaml": PARAMS, "ingest.py": INGEST, "train.py": TRAIN,
                      "mlpipe.yaml": PIPELINE})
    (root / ".gitignore").write_text(".mlpipe/\ndata.txt\nmodel.txt\nmetrics.json\n")
    git_commit(root, "pipeline")


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".mlpipe" not in p.parts and ".git" not in p.parts}


def _rows(mlpipe: Invoke, *args: str) -> list[dict]:
    result = mlpipe("exp", "show", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["rows"]


def test_a_grid_runs_side_by_side_and_the_best_is_applied(project: Path, counts: Path,
                                                          mlpipe: Invoke) -> None:
    _project(project)
    before = _files(project)
    result = mlpipe("exp", "run", *GRID, "-j", "2")
    assert result.exit_code == 0, result.output
    assert result.stdout.count(": done") == 6
    assert _count(counts, "ingest") == 1  # shared by all six: run once, restored five times
    assert _count(counts, "train") == 6
    assert _files(project) == before  # the work tree was never touched
    assert git(project, "status", "--porcelain") == ""

    rows = _rows(mlpipe)
    assert len(rows) == 6
    assert sorted((r["train.a"], r["train.b"]) for r in rows) == list(
        itertools.product([1, 2, 3], [1, 2]))
    for row in rows:  # the same numbers as a plain run of each variant
        plain = mlpipe("run", "-S", f"train.a={row['train.a']}", "-S", f"train.b={row['train.b']}")
        assert plain.exit_code == 0, plain.output
        assert json.loads((project / "metrics.json").read_text()) == {
            "score": row["score"], "loss": row["loss"]}
    assert (project / "params.yaml").read_text() == PARAMS

    table = json.loads(mlpipe("exp", "show", "--json", "--sort-by", "score").stdout)
    best = table["rows"][0]
    assert (best["train.a"], best["train.b"]) == (3, 2)
    assert table["best"] == {"score": [best["name"]], "loss": [best["name"]]}
    text = mlpipe("exp", "show").stdout
    assert f"{best['score']}*" in text  # best marked
    md = mlpipe("exp", "show", "--md", "--sort-by", "loss").stdout.splitlines()
    assert md[0].startswith("| name | base | created | train.a | train.b | loss | score |")
    assert best["name"] in md[2] and "**" in md[2]
    csv = mlpipe("exp", "show", "--csv").stdout.splitlines()
    assert len(csv) == 7 and csv[0] == "name,base,created,train.a,train.b,loss,score"

    trains = _count(counts, "train")
    applied = mlpipe("exp", "apply", best["name"])
    assert applied.exit_code == 0, applied.output
    assert _count(counts, "train") == trains  # restored from the cache, not retrained
    assert "train:\n  a: 3   # strength\n  b: 2\n" in (project / "params.yaml").read_text()
    assert json.loads((project / "metrics.json").read_text())["score"] == best["score"]
    status = json.loads(mlpipe("status", "--json").stdout)
    assert status["stale"] is False, status
    assert mlpipe("hooks", "install", "--pre-commit").exit_code == 0
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "best experiment")  # the lock gate lets it through
    assert git(project, "status", "--porcelain") == ""


def test_show_diff_remove_branch_and_the_queue(project: Path, counts: Path,
                                              mlpipe: Invoke) -> None:
    _project(project)
    base = git(project, "rev-parse", "HEAD")
    assert mlpipe("exp", "run", "-S", "train.a=2", "--name", "two").exit_code == 0
    queued = mlpipe("exp", "run", "-S", "train.a=5", "-S", "train.b=1,3", "--queue", "-n", "q")
    assert queued.exit_code == 0 and queued.stdout.count("queued") == 2
    assert len(_rows(mlpipe)) == 1 and _count(counts, "train") == 1
    assert mlpipe("exp", "run", "--queued").exit_code == 0
    assert sorted(r["name"] for r in _rows(mlpipe)) == ["q-1", "q-2", "two"]
    assert mlpipe("exp", "run", "--queued").stdout == ""  # the queue is empty now

    diff = mlpipe("exp", "diff", "two", "q-2").stdout.splitlines()
    assert "param train.a: 2 -> 5" in diff and "param train.b: 1 -> 3" in diff
    assert any(line.startswith("metric score: 21.1 -> 53.1") for line in diff)

    write_tree(project, {"notes.txt": "x"})
    later = git_commit(project, "later")
    assert mlpipe("exp", "run", "-S", "train.b=7", "-n", "later").exit_code == 0
    assert [r["name"] for r in _rows(mlpipe, "--base", later)] == ["later"]
    assert len(_rows(mlpipe, "--base", base)) == 3

    made = mlpipe("exp", "branch", "q-2", "try-q2")
    assert made.exit_code == 0, made.output
    assert git(project, "rev-parse", "HEAD") == later  # the current branch did not move
    assert "a: 5   # strength" in git(project, "show", "try-q2:params.yaml")
    assert git(project, "rev-parse", "try-q2~1") == base
    assert "model.txt" in git(project, "show", "try-q2:mlpipe.lock")
    assert mlpipe("exp", "branch", "q-2", "try-q2").exit_code == 2  # exists

    assert mlpipe("exp", "remove", "q-1", "two").stdout.splitlines() == [
        "removed q-1", "removed two"]
    assert sorted(r["name"] for r in _rows(mlpipe)) == ["later", "q-2"]


@pytest.mark.parametrize(("args", "message"), [
    (("exp", "apply", "nope"), "no experiment 'nope'"),
    (("exp", "show", "--sort-by", "acc"), "--sort-by acc: no such column"),
    (("exp", "run", "-S", "train.zz=1,2"), "undefined param 'train.zz'"),
    (("exp", "run", "-S", "train.a"), "-S train.a: expected KEY=VALUE"),
    (("exp", "run", "-S", "train.a=1", "--name", "a/b"), "--name 'a/b'"),
    (("exp", "diff", "x", "y"), "no experiment 'x'"),
])
def test_bad_input_is_one_line(project: Path, counts: Path, mlpipe: Invoke,
                               args: tuple[str, ...], message: str) -> None:
    _project(project)
    result = mlpipe(*args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_two_clones_exchange_experiments_through_a_directory_remote(
        project: Path, counts: Path, tmp_path: Path, mlpipe: Invoke,
        monkeypatch: pytest.MonkeyPatch) -> None:
    _project(project)
    remote = tmp_path / "remote"
    assert mlpipe("exp", "run", "-S", "train.a=4,6").exit_code == 0
    pushed = mlpipe("exp", "push", "-r", str(remote))
    assert pushed.exit_code == 0, pushed.output
    assert pushed.stdout.startswith("pushed 2 experiment(s)")
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(project), str(other)], check=True)
    monkeypatch.chdir(other)
    assert _rows(mlpipe) == []
    pulled = mlpipe("exp", "pull", "-r", str(remote))
    assert pulled.exit_code == 0, pulled.output
    rows = _rows(mlpipe, "--sort-by", "score")
    assert [r["train.a"] for r in rows] == [6, 4]
    runs = (_count(counts, "ingest"), _count(counts, "train"))
    applied = mlpipe("exp", "apply", rows[0]["name"])
    assert applied.exit_code == 0, applied.output
    assert (_count(counts, "ingest"), _count(counts, "train")) == runs  # nothing ran
    assert (other / "model.txt").read_text() == "6 1"
    assert json.loads(mlpipe("status", "--json").stdout)["stale"] is False
    assert statuses(mlpipe("run", "--json")) == {"ingest": "cached", "train": "cached"}


def test_a_killed_experiment_leaves_no_trace(project: Path, counts: Path) -> None:
    _project(project)
    before = _files(project)
    proc = subprocess.Popen([PY, "-m", "mlpipe", "exp", "run", "-S", "train.a=9"],
                            cwd=project, env={**os.environ, "SLOW": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while not (counts / "started").exists():
        assert time.monotonic() < deadline and proc.poll() is None, "train never started"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _files(project) == before
    assert git(project, "status", "--porcelain") == ""
    shown = subprocess.run([PY, "-m", "mlpipe", "exp", "show", "--json"], cwd=project,
                           capture_output=True, text=True, check=True)
    assert json.loads(shown.stdout)["rows"] == []
    again = subprocess.run([PY, "-m", "mlpipe", "exp", "run", "-S", "train.a=9"], cwd=project,
                           capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stderr
    assert "(1 stage(s) ran, 1 from the cache)" in again.stdout  # ingest was recorded
    assert len(git(project, "worktree", "list").splitlines()) == 1  # the dead one was pruned

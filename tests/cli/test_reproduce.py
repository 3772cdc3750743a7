"""`status --rev` and `reproduce REV`: past commits in temporary worktrees sharing the cache."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from conftest import Invoke, counted, git, git_commit, git_init, runs_of, write_tree


def _pipeline(noise: bool = False) -> str:
    extra = " && date +%s%N >> out/b.txt" if noise else ""
    return yaml.safe_dump({"params": {"n": 1}, "stages": {
        "a": {"kind": "command", "outs": ["out/a.txt"],
              "cmd": counted("a", "mkdir -p out && echo ${params.n} > out/a.txt")},
        "b": {"kind": "command",
              "cmd": counted("b", f"cat out/a.txt out/a.txt > out/b.txt{extra}"),
              "deps": ["out/a.txt"], "outs": ["out/b.txt"]},
    }})


def _two_commits(project: Path, mlpipe: Invoke, noise: bool = False) -> tuple[str, str]:
    git_init(project)
    write_tree(project, {".gitignore": ".mlpipe/\nout/\nruns/\n",
                         "mlpipe.yaml": _pipeline(noise)})
    assert mlpipe("run").exit_code == 0
    first = git_commit(project, "n=1")
    (project / "mlpipe.yaml").write_text(_pipeline(noise).replace("n: 1", "n: 2"))
    assert mlpipe("run").exit_code == 0
    return first, git_commit(project, "n=2")


def _worktrees(project: Path) -> int:
    return git(project, "worktree", "list").count("\n") + 1


def test_status_at_a_revision(project: Path, mlpipe: Invoke) -> None:
    first, _ = _two_commits(project, mlpipe)
    plan = json.loads(mlpipe("status", "--rev", first, "--json").stdout)
    assert {s["name"]: s["action"] for s in plan["stages"]} == {"a": "restore", "b": "restore"}

    (project / "mlpipe.yaml").write_text(_pipeline().replace("n: 1", "n: 3"))
    stale = git_commit(project, "n=3, not run")
    result = mlpipe("status", "--rev", stale, "--fail-if-stale")
    assert result.exit_code == 3
    assert "a: will run" in result.stdout and "param n 2 -> 3" in result.stdout
    assert _worktrees(project) == 1
    assert (project / "out/a.txt").read_text() == "2\n"  # the work tree is untouched


def test_reproduce_reruns_every_stage_and_compares_with_the_lock(
        project: Path, mlpipe: Invoke) -> None:
    first, _ = _two_commits(project, mlpipe)
    before = runs_of(project, "a")
    result = mlpipe("reproduce", first, "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["ok"] and out["commit"] == first
    assert [(o["stage"], o["path"], o["matches"]) for o in out["outputs"]] == [
        ("a", "out/a.txt", True), ("b", "out/b.txt", True)]
    assert {s["name"]: s["status"] for s in out["stages"]} == {"a": "ran", "b": "ran"}
    assert runs_of(project, "a") == before  # it ran in the worktree, not here
    assert _worktrees(project) == 1

    cached = json.loads(mlpipe("reproduce", first, "--use-cache", "--json").stdout)
    assert {s["name"]: s["status"] for s in cached["stages"]} == {"a": "restored",
                                                                   "b": "restored"}
    assert cached["ok"]


def test_reproduce_reports_an_output_that_differs(project: Path, mlpipe: Invoke) -> None:
    first, _ = _two_commits(project, mlpipe, noise=True)
    result = mlpipe("reproduce", first)
    assert result.exit_code == 1
    assert "a: out/a.txt: matches" in result.stdout
    assert "b: out/b.txt: DIFFERS (lock " in result.stdout
    assert result.stdout.splitlines()[-1] == f"{first[:8]}: 1/2 outputs reproduced"


def test_reproduce_needs_a_revision_with_a_lock_file(project: Path, mlpipe: Invoke) -> None:
    git_init(project)
    write_tree(project, {".gitignore": ".mlpipe/\nmlpipe.lock\n", "mlpipe.yaml": _pipeline()})
    git_commit(project, "no lock")
    missing = mlpipe("reproduce", "HEAD")
    assert missing.exit_code == 2 and "no lock file committed at that revision" in missing.stderr
    unknown = mlpipe("reproduce", "nope")
    assert unknown.exit_code == 2 and "nope: not a revision" in unknown.stderr
    assert _worktrees(project) == 1

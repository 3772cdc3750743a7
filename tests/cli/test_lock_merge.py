"""Lock files through git: merge, rebase and cherry-pick go through `mlpipe lock merge`."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from conftest import Invoke, counted, git, git_init, runs_of, write_tree

from mlpipe.errors import EXIT_STALE, EXIT_USAGE
from mlpipe.state import lockfile

PIPELINE = f"""
params:
  x: 1
  pad1: 0
  pad2: 0
  pad3: 0
  y: 1
stages:
  only_x:
    kind: command
    cmd: {counted("only_x", "echo ${params.x} > only_x.txt")}
    outs: [only_x.txt]
  only_y:
    kind: command
    cmd: {counted("only_y", "echo ${params.y} > only_y.txt")}
    outs: [only_y.txt]
  shared:
    kind: command
    cmd: {counted("shared", "echo ${params.x} ${params.y} > shared.txt")}
    outs: [shared.txt]
  untouched:
    kind: command
    cmd: {counted("untouched", "echo same > untouched.txt")}
    outs: [untouched.txt]
"""
IGNORED = ".mlpipe/\nruns/\n*.txt\n"


def commit(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "--no-verify", "-m", message)


def run(mlpipe: Invoke, root: Path) -> None:
    result = mlpipe("run", "-f", str(root / "mlpipe.yaml"))
    assert result.exit_code == 0, result.output


def two_branches(root: Path, mlpipe: Invoke, monkeypatch: pytest.MonkeyPatch,
                 driver: bool = True) -> None:
    """main ran everything; `left` set x=2 and re-ran, `right` (from main) set y=2 and re-ran."""
    root.mkdir()
    git_init(root)
    write_tree(root, {"mlpipe.yaml": PIPELINE, ".gitignore": IGNORED})
    monkeypatch.chdir(root)
    if driver:
        installed = mlpipe("hooks", "install")
        assert installed.exit_code == 0, installed.output
    run(mlpipe, root)
    commit(root, "main")
    for branch, edit in (("left", ("x: 1", "x: 2")), ("right", ("y: 1", "y: 2"))):
        git(root, "checkout", "-q", "-b", branch, "main")
        (root / "mlpipe.yaml").write_text(PIPELINE.replace(*edit))
        run(mlpipe, root)
        commit(root, branch)
    git(root, "checkout", "-q", "left")
    assert [runs_of(root, s) for s in ("only_x", "only_y", "shared", "untouched")] == [
        2, 2, 3, 1]


def check_merged(root: Path, mlpipe: Invoke) -> None:
    """Both edits are in; shared was dropped and runs again; nothing else runs."""
    text = (root / "mlpipe.lock").read_text()
    assert "<<<<<<<" not in text
    lock = lockfile.read(root / "mlpipe.lock")
    assert sorted(lock) == ["only_x", "only_y", "untouched"] and lock.unmerged == {"shared"}
    assert lock["only_x"].params == {"x": 2} and lock["only_y"].params == {"y": 2}
    gate = mlpipe("status", "--lock")
    assert (gate.exit_code, gate.stdout) == (EXIT_STALE,
                                              "shared: changed on both sides of a merge\n")
    status = json.loads(mlpipe("status", "--json").stdout)
    shared = next(s for s in status["stages"] if s["name"] == "shared")
    assert (shared["action"], shared["reasons"]) == ("run", ["changed on both sides of a merge"])
    before = [runs_of(root, s) for s in ("only_x", "only_y", "shared", "untouched")]
    run(mlpipe, root)
    after = [runs_of(root, s) for s in ("only_x", "only_y", "shared", "untouched")]
    assert [b - a for a, b in zip(before, after, strict=True)] == [0, 0, 1, 0]
    assert (root / "shared.txt").read_text() == "2 2\n"
    assert (root / "only_y.txt").read_text() == "2\n"  # restored from the cache, not run
    assert "unmerged" not in (root / "mlpipe.lock").read_text()
    assert mlpipe("status", "--lock").exit_code == 0


def test_merge(tmp_path: Path, mlpipe: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "repo"
    two_branches(root, mlpipe, monkeypatch)
    git(root, "merge", "-q", "--no-edit", "--no-verify", "right")
    check_merged(root, mlpipe)


def test_rebase(tmp_path: Path, mlpipe: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "repo"
    two_branches(root, mlpipe, monkeypatch)
    git(root, "checkout", "-q", "right")
    git(root, "rebase", "-q", "left")
    check_merged(root, mlpipe)


def test_cherry_pick(tmp_path: Path, mlpipe: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "repo"
    two_branches(root, mlpipe, monkeypatch)
    git(root, "cherry-pick", "right")
    check_merged(root, mlpipe)


def test_without_the_driver_conflict_markers_get_one_line(
        tmp_path: Path, mlpipe: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "repo"
    two_branches(root, mlpipe, monkeypatch, driver=False)
    merged = subprocess.run(["git", "merge", "--no-edit", "right"], cwd=root,
                            capture_output=True, text=True)
    assert merged.returncode != 0 and "CONFLICT (content): Merge conflict in mlpipe.lock" in (
        merged.stdout)
    for command in (("status",), ("status", "--lock"), ("run",)):
        result = mlpipe(*command)
        assert result.exit_code == EXIT_USAGE
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert re.search(r"/mlpipe\.lock:\d+: the lock file holds git conflict markers", lines[0])
        assert "mlpipe hooks install" in lines[0] and "mlpipe run" in lines[0]


def test_hooks_install_registers_the_driver_for_each_lock_file(
        tmp_path: Path, mlpipe: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    git_init(root)
    write_tree(root, {"ml/train.yaml": "stages: {}\n", "mlpipe.yaml": "stages: {}\n",
                      ".gitattributes": "*.png binary"})
    monkeypatch.chdir(root)
    result = mlpipe("hooks", "install", "-f", "mlpipe.yaml", "-f", "ml/train.yaml")
    assert result.exit_code == 0, result.output
    assert (root / ".gitattributes").read_text() == (
        "*.png binary\n/mlpipe.lock merge=mlpipe-lock\n/ml/train.lock merge=mlpipe-lock\n")
    assert git(root, "check-attr", "merge", "ml/train.lock") == "ml/train.lock: merge: mlpipe-lock"
    assert git(root, "config", "merge.mlpipe-lock.driver").endswith(
        "-m mlpipe lock merge %O %A %B --name %P")
    assert mlpipe("hooks", "install", "-f", "mlpipe.yaml").exit_code == 0  # idempotent
    assert (root / ".gitattributes").read_text().count("mlpipe-lock") == 2
    removed = mlpipe("hooks", "uninstall")
    assert "merge driver 'mlpipe-lock' removed" in removed.stdout
    gone = subprocess.run(["git", "config", "merge.mlpipe-lock.driver"], cwd=root)
    assert gone.returncode == 1

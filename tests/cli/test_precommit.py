"""The published hooks through the real pre-commit framework: `pre-commit install`, then
real `git commit`s for each staging case, and `pre-commit try-repo`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git, git_commit, git_init, write_tree

REPO = Path(__file__).resolve().parents[2]
PIPELINE = """\
    params: {scale: 2}
    stages:
      double:
        kind: command
        cmd: python -c "print(int(open('in.txt').read()) * ${params.scale})" > out.txt
        deps: [in.txt]
        outs: [out.txt]
"""


def _snapshot(dest: Path) -> Path:
    """This checkout's files (committed or not, ignored ones left out) as one commit."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split("\0")
    for rel in filter(None, files):
        if (REPO / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, dest / rel)
    git_init(dest)
    git_commit(dest, "snapshot")
    return dest


@pytest.fixture
def hooks_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A snapshot of this checkout to take the hooks from; `mlpipe` of this venv on PATH."""
    monkeypatch.setenv("PRE_COMMIT_HOME", str(tmp_path / "pre-commit-home"))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return _snapshot(tmp_path / "mlpipe-snapshot")


def _pre_commit(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pre_commit", *args, "--color", "never"],
                          cwd=project, capture_output=True, text=True)


def _commit(project: Path, message: str, *add: str) -> subprocess.CompletedProcess[str]:
    """`git commit` through the installed framework; stdout holds everything it printed."""
    if add:
        git(project, "add", *add)
    return subprocess.run(["git", "commit", "-q", "-m", message], cwd=project, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          env={**os.environ, "NO_COLOR": "1"})


def _configured(project: Path, hooks_repo: Path) -> None:
    """A repository that ran its pipeline, with both hooks installed through pre-commit."""
    git_init(project)
    write_tree(project, {"mlpipe.yaml": PIPELINE, "in.txt": "21\n",
                         ".gitignore": ".mlpipe/\nout.txt\n"})
    rev = git(hooks_repo, "rev-parse", "HEAD")
    (project / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {hooks_repo}\n    rev: {rev}\n"
        "    hooks: [{id: mlpipe-check}, {id: mlpipe-status}]\n")
    subprocess.run([sys.executable, "-m", "mlpipe", "run"], cwd=project, check=True,
                   capture_output=True)
    assert _pre_commit(project, "install").returncode == 0
    done = _commit(project, "pipeline and lock", "-A")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_staged_param_change_with_the_lock_unstaged_is_blocked(
        project: Path, hooks_repo: Path, tmp_path: Path) -> None:
    _configured(project, hooks_repo)
    (project / "mlpipe.yaml").write_text(
        (project / "mlpipe.yaml").read_text().replace("scale: 2", "scale: 3"))
    subprocess.run([sys.executable, "-m", "mlpipe", "run"], cwd=project, check=True,
                   capture_output=True)
    blocked = _commit(project, "param only", "mlpipe.yaml")
    assert blocked.returncode != 0
    assert re.search(r"mlpipe lock file matches what is staged\.+Failed", blocked.stdout)
    assert "double: param scale 2 -> 3" in blocked.stdout
    assert "next: mlpipe run -f mlpipe.yaml, then git add mlpipe.lock" in blocked.stdout
    assert _commit(project, "param and lock", "mlpipe.lock").returncode == 0
    # No hook environment with mlpipe's dependencies was built.
    assert not list((tmp_path / "pre-commit-home").glob("repo*/py_env-*"))


def test_a_correct_commit_passes_with_an_unrelated_unstaged_edit(
        project: Path, hooks_repo: Path) -> None:
    _configured(project, hooks_repo)
    (project / "in.txt").write_text("4\n")
    subprocess.run([sys.executable, "-m", "mlpipe", "run"], cwd=project, check=True,
                   capture_output=True)
    git(project, "add", "in.txt", "mlpipe.lock")
    (project / "in.txt").write_text("99\n")
    done = _commit(project, "new data and its lock")
    assert done.returncode == 0, done.stdout
    assert (project / "in.txt").read_text() == "99\n"  # the unstaged edit is kept
    assert git(project, "show", "HEAD:in.txt") == "4"


def test_a_fresh_clone_commits_a_readme_and_a_broken_pipeline_is_stopped(
        project: Path, hooks_repo: Path, tmp_path: Path) -> None:
    _configured(project, hooks_repo)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(project), str(clone)], check=True)
    git(clone, "config", "user.email", "test@example.com")
    git(clone, "config", "user.name", "Test")
    assert _pre_commit(clone, "install").returncode == 0
    assert not (clone / "out.txt").exists()
    (clone / "README.md").write_text("docs\n")
    done = _commit(clone, "readme", "README.md")
    assert done.returncode == 0, done.stdout

    (clone / "mlpipe.yaml").write_text(PIPELINE.replace("kind: command", "kind: comand"))
    broken = _commit(clone, "typo", "mlpipe.yaml")
    assert broken.returncode != 0
    assert re.search(r"mlpipe check \(pipeline files\)\.+Failed", broken.stdout)
    assert "mlpipe.yaml:4" in broken.stdout and "did you mean 'command'" in broken.stdout


def test_try_repo_runs_both_hooks_on_all_files(project: Path, hooks_repo: Path) -> None:
    git_init(project)
    write_tree(project, {"mlpipe.yaml": PIPELINE, "in.txt": "1\n"})
    git_commit(project, "pipeline, never run")
    tried = _pre_commit(project, "try-repo", str(hooks_repo), "--all-files")
    assert tried.returncode == 0, tried.stdout
    assert re.search(r"mlpipe check \(pipeline files\)\.+Passed", tried.stdout)
    assert re.search(r"mlpipe lock file matches what is staged\.+Passed", tried.stdout)

"""The published hooks through the real pre-commit framework (`pre-commit try-repo`).

One test, so the hook environment (mlpipe installed by pre-commit) is built once per run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git, git_commit, git_init, write_tree

REPO = Path(__file__).resolve().parents[2]


def _snapshot(dest: Path) -> Path:
    """This checkout's files (committed or not, ignored ones left out) as one commit.

    try-repo on a tree with uncommitted changes builds a fresh hook environment per call;
    on a commit it builds one and reuses it.
    """
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


def _pre_commit(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pre_commit", *args, "--color", "never"],
                          cwd=project, capture_output=True, text=True)


def test_mlpipe_check_and_status_hooks(project: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRE_COMMIT_HOME", str(tmp_path / "pre-commit-home"))
    hooks_repo = _snapshot(tmp_path / "mlpipe-snapshot")
    git_init(project)
    write_tree(project, {"mlpipe.yaml": """\
        stages:
          hello: {kind: command, cmd: cat in.txt > hi.txt, deps: [in.txt], outs: [hi.txt]}
    """, "in.txt": "1\n"})
    git_commit(project, "pipeline")

    tried = _pre_commit(project, "try-repo", str(hooks_repo), "--all-files")
    assert tried.returncode == 1, tried.stdout
    assert re.search(r"mlpipe check \(pipeline files\)\.+Passed", tried.stdout)
    assert re.search(r"mlpipe status \(lock file up to date\)\.+Failed", tried.stdout)
    assert "hello: will run" in tried.stdout and "never ran" in tried.stdout

    # The same hooks from a config, as a user's repository has them (one environment).
    rev = git(hooks_repo, "rev-parse", "HEAD")
    (project / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {hooks_repo}\n    rev: {rev}\n"
        "    hooks: [{id: mlpipe-check}, {id: mlpipe-status}]\n")
    subprocess.run([sys.executable, "-m", "mlpipe", "run"], cwd=project, check=True,
                   capture_output=True)
    git_commit(project, "lock")
    fresh = _pre_commit(project, "run", "--all-files")
    assert fresh.returncode == 0, fresh.stdout

    (project / "in.txt").write_text("2\n")
    changed = _pre_commit(project, "run", "--all-files")
    assert changed.returncode == 1 and "dep in.txt changed" in changed.stdout

    (project / "mlpipe.yaml").write_text("stages:\n  hello: {kind: comand}\n")
    broken = _pre_commit(project, "run", "mlpipe-check", "--all-files")
    assert broken.returncode == 1
    assert "mlpipe.yaml:2" in broken.stdout and "did you mean 'command'" in broken.stdout

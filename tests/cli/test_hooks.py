"""`mlpipe hooks`: plain git hooks, exercised through real `git commit` and `git push`."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import Invoke, git, git_commit, git_init, write_tree

PIPELINE = """\
    params: {scale: 2}
    stages:
      double:
        kind: command
        cmd: python -c "print(int(open('in.txt').read()) * ${params.scale})" > out.txt
        deps: [in.txt]
        outs: [out.txt]
"""


def _repo(project: Path) -> None:
    git_init(project)
    write_tree(project, {"mlpipe.yaml": PIPELINE, "in.txt": "21\n"})


def _commit(project: Path, message: str) -> subprocess.CompletedProcess[str]:
    git(project, "add", "-A")
    return subprocess.run(["git", "commit", "-q", "-m", message], cwd=project,
                          capture_output=True, text=True)


def test_pre_commit_hook_blocks_a_stale_lock_and_a_broken_pipeline(
        project: Path, mlpipe: Invoke) -> None:
    _repo(project)
    assert mlpipe("hooks", "install").exit_code == 0
    assert _commit(project, "pipeline, never run").returncode == 0  # no lock yet: not checked
    assert mlpipe("run").exit_code == 0
    assert _commit(project, "lock").returncode == 0

    (project / "in.txt").write_text("5\n")
    stale = _commit(project, "new data, lock not updated")
    assert stale.returncode != 0
    assert "double: will run" in stale.stderr and "dep in.txt changed" in stale.stderr
    assert mlpipe("run").exit_code == 0
    assert _commit(project, "new data and lock").returncode == 0

    (project / "mlpipe.yaml").write_text(PIPELINE.replace("kind: command", "kind: comand"))
    broken = _commit(project, "typo")
    assert broken.returncode != 0
    assert "mlpipe.yaml:4" in broken.stderr and "did you mean 'command'" in broken.stderr


def test_pre_push_hook_runs_the_pipeline_and_wants_the_lock_committed(
        project: Path, mlpipe: Invoke, tmp_path: Path) -> None:
    _repo(project)
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    git(project, "remote", "add", "origin", str(remote))
    git_commit(project, "pipeline")
    assert mlpipe("hooks", "install", "--pre-push").exit_code == 0
    assert not (project / ".git/hooks/pre-commit").exists()

    push = subprocess.run(["git", "push", "-q", "origin", "main"], cwd=project,
                          capture_output=True, text=True)
    assert push.returncode != 0
    assert "the run changed mlpipe.lock; commit it before pushing" in push.stderr
    assert (project / "out.txt").read_text().strip() == "42"

    git_commit(project, "lock")
    push = subprocess.run(["git", "push", "-q", "origin", "main"], cwd=project,
                          capture_output=True, text=True)
    assert push.returncode == 0, push.stderr


def test_a_foreign_hook_is_never_overwritten_silently(project: Path, mlpipe: Invoke) -> None:
    _repo(project)
    own = project / ".git/hooks/pre-commit"
    own.write_text("#!/bin/sh\necho mine\n")

    refused = mlpipe("hooks", "install")
    assert refused.exit_code == 2
    assert "a hook that mlpipe did not write is already there" in refused.stderr
    assert own.read_text() == "#!/bin/sh\necho mine\n"

    forced = mlpipe("hooks", "install", "--force")
    assert forced.exit_code == 0 and "pre-commit.mlpipe-backup" in forced.stdout
    assert "mlpipe check mlpipe.yaml" in own.read_text()
    assert (project / ".git/hooks/pre-commit.mlpipe-backup").read_text().endswith("echo mine\n")

    again = mlpipe("hooks", "install")
    assert again.exit_code == 0 and "updated" in again.stdout

    removed = mlpipe("hooks", "uninstall")
    assert "previous hook restored" in removed.stdout
    assert own.read_text() == "#!/bin/sh\necho mine\n"
    assert mlpipe("hooks", "uninstall").stdout.strip() == "no mlpipe hooks installed"
    assert own.exists()


def test_hooks_honour_core_hooks_path_and_a_pipeline_in_a_subdirectory(
        project: Path, mlpipe: Invoke) -> None:
    git_init(project)
    write_tree(project, {"ml/pipe.yaml": PIPELINE, "ml/in.txt": "1\n"})
    git(project, "config", "core.hooksPath", "githooks")

    result = mlpipe("hooks", "install", "-f", "ml/pipe.yaml")
    assert result.exit_code == 0, result.stderr
    script = (project / "githooks/pre-commit").read_text()
    assert "check ml/pipe.yaml" in script and "[ -f ml/pipe.lock ]" in script


def test_install_outside_git_or_without_the_pipeline_is_a_usage_error(
        project: Path, mlpipe: Invoke) -> None:
    outside = mlpipe("hooks", "install")
    assert outside.exit_code == 2 and "not inside a git repository" in outside.stderr
    git_init(project)
    missing = mlpipe("hooks", "install")
    assert missing.exit_code == 2 and "mlpipe.yaml: pipeline file not found" in missing.stderr

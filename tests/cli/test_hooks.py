"""`mlpipe hooks`: plain git hooks, exercised through real `git commit` and `git push`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
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
    assert "double: dep in.txt changed" in stale.stderr
    assert "next: mlpipe run -f mlpipe.yaml, then git add mlpipe.lock" in stale.stderr
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
    assert "mlpipe hooks check-staged --refresh-hook -f mlpipe.yaml" in own.read_text()
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
    assert "check-staged --refresh-hook -f ml/pipe.yaml" in script
    assert "':(literal)ml/pipe.lock' ':(literal)ml/in.txt'" in script


def test_install_outside_git_or_without_the_pipeline_is_a_usage_error(
        project: Path, mlpipe: Invoke) -> None:
    outside = mlpipe("hooks", "install")
    assert outside.exit_code == 2 and "not inside a git repository" in outside.stderr
    git_init(project)
    missing = mlpipe("hooks", "install")
    assert missing.exit_code == 2 and "mlpipe.yaml: pipeline file not found" in missing.stderr


def _committed_run(project: Path, mlpipe: Invoke) -> None:
    """A repository whose pipeline ran and whose lock is committed, with the hook installed."""
    _repo(project)
    (project / ".gitignore").write_text(".mlpipe/\nout.txt\n")
    assert mlpipe("hooks", "install").exit_code == 0
    assert mlpipe("run").exit_code == 0
    assert _commit(project, "pipeline and lock").returncode == 0


def _commit_staged(project: Path, message: str) -> subprocess.CompletedProcess[str]:
    """`git commit` of what is staged, nothing added."""
    return subprocess.run(["git", "commit", "-q", "-m", message], cwd=project,
                          capture_output=True, text=True)


def test_a_staged_param_change_without_the_rerun_lock_is_blocked(
        project: Path, mlpipe: Invoke) -> None:
    _committed_run(project, mlpipe)
    (project / "mlpipe.yaml").write_text(PIPELINE.replace("scale: 2", "scale: 3"))
    assert mlpipe("run").exit_code == 0  # the lock in the work tree is right, but not staged
    git(project, "add", "mlpipe.yaml")
    blocked = _commit_staged(project, "param only")
    assert blocked.returncode != 0, blocked.stderr
    assert "the staged mlpipe.lock does not match the staged mlpipe.yaml" in blocked.stderr
    assert "double: param scale 2 -> 3" in blocked.stderr
    assert "next: mlpipe run -f mlpipe.yaml, then git add mlpipe.lock" in blocked.stderr

    git(project, "add", "mlpipe.lock")
    assert _commit_staged(project, "param and lock").returncode == 0


def test_a_correct_commit_passes_despite_an_unrelated_unstaged_edit(
        project: Path, mlpipe: Invoke) -> None:
    _committed_run(project, mlpipe)
    (project / "in.txt").write_text("4\n")
    assert mlpipe("run").exit_code == 0
    git(project, "add", "in.txt", "mlpipe.lock")
    (project / "in.txt").write_text("99\n")  # not staged: the commit holds 4 and its lock
    (project / "mlpipe.yaml").write_text(PIPELINE + "      # an unstaged comment\n")
    done = _commit_staged(project, "new data and its lock")
    assert done.returncode == 0, done.stderr
    assert git(project, "show", "HEAD:in.txt") == "4"


def test_a_fresh_clone_commits_unrelated_and_consistent_changes(
        project: Path, mlpipe: Invoke, tmp_path: Path, monkeypatch) -> None:
    _committed_run(project, mlpipe)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(project), str(clone)], check=True)
    git(clone, "config", "user.email", "test@example.com")
    git(clone, "config", "user.name", "Test")
    monkeypatch.chdir(clone)
    assert mlpipe("hooks", "install").exit_code == 0
    assert not (clone / "out.txt").exists()  # nothing has run in this clone

    (clone / "README.md").write_text("docs\n")
    assert _commit(clone, "readme").returncode == 0
    # The pipeline file itself changes, its lock still matches: outputs missing do not count.
    (clone / "mlpipe.yaml").write_text(PIPELINE + "# a comment\n")
    done = _commit(clone, "comment in the pipeline")
    assert done.returncode == 0, done.stderr
    (clone / "in.txt").write_text("8\n")
    stale = _commit(clone, "new data, no run")
    assert stale.returncode != 0 and "double: dep in.txt changed" in stale.stderr


def test_the_hook_exits_without_python_when_nothing_the_pipeline_reads_is_staged(
        project: Path, mlpipe: Invoke) -> None:
    _committed_run(project, mlpipe)
    (project / "mlpipe.yaml").write_text("stages: {broken: {kind: comand}}\n")
    git(project, "add", "mlpipe.yaml")
    broken = _commit_staged(project, "broken")  # Python ran: the pipeline is invalid
    assert broken.returncode != 0 and "unknown kind 'comand'" in broken.stderr
    git(project, "commit", "-q", "--no-verify", "-m", "broken, hook bypassed")
    (project / "README.md").write_text("docs\n")
    git(project, "add", "README.md")
    # Were Python started, the committed pipeline's error would block this commit.
    assert _commit_staged(project, "readme").returncode == 0


def test_the_watched_paths_follow_the_committed_pipeline(project: Path, mlpipe: Invoke) -> None:
    _committed_run(project, mlpipe)
    (project / "extra.txt").write_text("x\n")
    assert _commit(project, "extra, not read yet").returncode == 0
    (project / "mlpipe.yaml").write_text(PIPELINE.replace("deps: [in.txt]",
                                                          "deps: [in.txt, extra.txt]"))
    assert mlpipe("run").exit_code == 0
    assert _commit(project, "reads extra.txt").returncode == 0
    assert "':(literal)extra.txt'" in (project / ".git/hooks/pre-commit").read_text()
    (project / "extra.txt").write_text("y\n")
    blocked = _commit(project, "extra changed, no run")
    assert blocked.returncode != 0 and "double: dep extra.txt changed" in blocked.stderr


def test_a_removed_pipeline_does_not_fail_later_commits(project: Path, mlpipe: Invoke) -> None:
    _committed_run(project, mlpipe)
    git(project, "rm", "-q", "mlpipe.yaml", "mlpipe.lock")
    removed = _commit_staged(project, "no more pipeline")
    assert removed.returncode == 0, removed.stderr
    assert "mlpipe.yaml is not in the index; not checked" in removed.stderr
    for text in ("2\n", "3\n"):
        (project / "in.txt").write_text(text)
        assert _commit(project, f"data {text}").returncode == 0



def test_commit_all_and_commit_of_paths_are_checked_as_they_commit(
        project: Path, mlpipe: Invoke) -> None:
    _committed_run(project, mlpipe)
    (project / "in.txt").write_text("2\n")
    (project / "README.md").write_text("docs\n")
    git(project, "add", "README.md")
    every = subprocess.run(["git", "commit", "-q", "-a", "-m", "all"], cwd=project,
                           capture_output=True, text=True)
    assert every.returncode != 0 and "double: dep in.txt changed" in every.stderr
    named = subprocess.run(["git", "commit", "-q", "-m", "dep only", "in.txt"], cwd=project,
                           capture_output=True, text=True)
    assert named.returncode != 0 and "double: dep in.txt changed" in named.stderr
    readme = subprocess.run(["git", "commit", "-q", "-m", "readme only", "README.md"],
                            cwd=project, capture_output=True, text=True)
    assert readme.returncode == 0, readme.stderr



def test_a_dep_outside_a_subdirectory_pipeline_is_checked_as_staged(
        project: Path, mlpipe: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    git_init(project)
    write_tree(project, {"ml/mlpipe.yaml": PIPELINE.replace("open('in.txt')",
                                                            "open('../shared/in.txt')")
               .replace("deps: [in.txt]", "deps: [../shared/in.txt]"),
               "shared/in.txt": "1\n"})
    assert mlpipe("hooks", "install", "-f", "ml/mlpipe.yaml").exit_code == 0
    monkeypatch.chdir(project / "ml")
    assert mlpipe("run").exit_code == 0
    assert _commit(project, "pipeline").returncode == 0
    (project / "shared/in.txt").write_text("2\n")
    blocked = _commit(project, "shared data")
    assert blocked.returncode != 0, blocked.stderr
    assert "double: dep ../shared/in.txt changed" in blocked.stderr
    assert "next: mlpipe run -f ml/mlpipe.yaml, then git add ml/mlpipe.lock" in blocked.stderr

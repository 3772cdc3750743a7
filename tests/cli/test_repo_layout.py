"""A pipeline inside a git repository: outputs kept out of git, pipeline files that share a
directory, and commands run from a subdirectory."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import Invoke, git, git_commit, git_init, write_tree

from mlpipe.errors import EXIT_USAGE
from mlpipe.state import ignorefile

PIPELINE = """
stages:
  make:
    kind: command
    cmd: "mkdir -p data && echo x > data/out.csv && echo 1 > 'odd #name[1].txt'"
    outs: [data/out.csv, "odd #name[1].txt"]
  report:
    kind: command
    cmd: mkdir -p reports && cp data/out.csv reports/r.csv && echo '{}' > metrics.json
    deps: [data/out.csv]
    outs: [reports]
    metrics: [metrics.json]
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git_init(root)
    (root / ".gitignore").unlink()
    write_tree(root, {"ml/mlpipe.yaml": PIPELINE, "ml/.gitignore": "*.tmp\n"})
    git_commit(root, "pipeline")
    monkeypatch.chdir(root / "ml")
    return root


def changes(root: Path) -> list[str]:
    """`git status` entries: paths git would stage with `git add -A`."""
    status = git(root, "status", "--porcelain", "--untracked-files=all")
    return sorted(line[3:] if line[2] == " " else line[2:] for line in status.splitlines())


class TestIgnoredOutputs:
    def test_run_ignores_every_output_and_keeps_the_users_lines(self, repo: Path,
                                                                mlpipe: Invoke) -> None:
        assert mlpipe("run").exit_code == 0
        lines = (repo / "ml" / ".gitignore").read_text().splitlines()
        assert lines[0] == "*.tmp"
        assert lines[2:] == ["/.mlpipe/", "/data/out.csv", "/odd \\#name\\[1\\].txt",
                             "/reports", "# <<< outputs of mlpipe.yaml"]
        # left for git: the lock file, .gitignore and the metrics; no data, model or state
        assert changes(repo) == ["ml/.gitignore", "ml/metrics.json", "ml/mlpipe.lock"]
        for path in ("data/out.csv", "odd #name[1].txt", "reports/r.csv"):
            assert git(repo, "check-ignore", f"ml/{path}") == f"ml/{path}"

    def test_the_block_follows_the_outputs(self, repo: Path, mlpipe: Invoke) -> None:
        assert mlpipe("run").exit_code == 0
        (repo / "ml" / "mlpipe.yaml").write_text(PIPELINE.replace("reports", "summary"))
        assert mlpipe("run").exit_code == 0
        text = (repo / "ml" / ".gitignore").read_text()
        assert "/summary\n" in text and "/reports" not in text
        assert text.count("# >>> outputs of mlpipe.yaml") == 1
        before = (repo / "ml" / ".gitignore").stat().st_mtime_ns
        assert mlpipe("run").exit_code == 0
        assert (repo / "ml" / ".gitignore").stat().st_mtime_ns == before  # nothing to rewrite

    def test_gitignore_false_leaves_the_file_alone(self, repo: Path, mlpipe: Invoke) -> None:
        (repo / "ml" / "mlpipe.yaml").write_text("gitignore: false\n" + PIPELINE)
        assert mlpipe("run").exit_code == 0
        assert (repo / "ml" / ".gitignore").read_text() == "*.tmp\n"

    def test_outside_git_nothing_is_written(self, tmp_path: Path, mlpipe: Invoke,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
        write_tree(tmp_path / "plain", {"mlpipe.yaml": PIPELINE})
        monkeypatch.chdir(tmp_path / "plain")
        assert mlpipe("run").exit_code == 0
        assert not (tmp_path / "plain" / ".gitignore").exists()

    def test_pattern_matches_only_that_path(self) -> None:
        assert ignorefile.pattern("a/b.csv") == "/a/b.csv"
        assert ignorefile.pattern("!x*?.txt") == "/\\!x\\*\\?.txt"
        assert ignorefile.pattern("dir/") == "/dir"
        assert ignorefile.pattern("trailing ") == "/trailing\\ "


def test_two_pipeline_files_writing_one_path_name_both(repo: Path, mlpipe: Invoke) -> None:
    (repo / "ml" / "other.yaml").write_text(
        "stages:\n  copy:\n    kind: command\n    cmd: echo y > data/out.csv\n"
        "    outs: [data/out.csv]\n")
    (repo / "ml" / "params.yaml").write_text("lr: 0.1\n")  # not a pipeline file
    result = mlpipe("run")
    assert result.exit_code == EXIT_USAGE
    assert not (repo / "ml" / "data").exists()  # refused before anything ran
    message = result.stderr.strip()
    assert "\n" not in message
    assert message.endswith(
        f"{repo / 'ml' / 'mlpipe.yaml'}: stage 'make' writes data/out.csv, which stage 'copy' "
        f"of {repo / 'ml' / 'other.yaml'} also writes; pipeline files in one directory share "
        "it, so give one of them another output path")
    other = mlpipe("run", "-f", "other.yaml")
    assert other.exit_code == EXIT_USAGE and "stage 'copy' writes data/out.csv" in other.stderr


class TestFromASubdirectory:
    def test_commands_find_the_pipeline_above(self, repo: Path, mlpipe: Invoke,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
        (repo / "ml" / "src" / "deep").mkdir(parents=True)
        monkeypatch.chdir(repo / "ml" / "src" / "deep")
        assert mlpipe("run").exit_code == 0
        assert (repo / "ml" / "data" / "out.csv").read_text() == "x\n"
        assert not (repo / "ml" / "src" / "deep" / "data").exists()
        assert mlpipe("status").stdout == "Everything is up to date.\n"
        assert mlpipe("status", "--lock").exit_code == 0

    def test_a_real_process_from_a_subdirectory(self, repo: Path) -> None:
        from conftest import PY

        (repo / "ml" / "src").mkdir()
        done = subprocess.run([PY, "-m", "mlpipe", "status"], cwd=repo / "ml" / "src",
                              capture_output=True, text=True)
        assert done.returncode == 0 and "make: will run" in done.stdout

    def test_the_search_stops_at_the_top_of_the_repository(self, repo: Path, mlpipe: Invoke,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
        (repo.parent / "mlpipe.yaml").write_text(PIPELINE)  # above the repository: not used
        (repo / "docs").mkdir()
        monkeypatch.chdir(repo / "docs")
        result = mlpipe("status")
        assert result.exit_code == EXIT_USAGE
        assert "pipeline file not found" in result.stderr
        assert str(repo / "docs" / "mlpipe.yaml") in result.stderr

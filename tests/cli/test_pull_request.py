"""A pull request compared with its base, as CI sees it: a depth-1 clone of the merge ref,
the base's outputs on a directory remote; and history commands in shallow clones and with
data in a git submodule."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import Invoke, git, git_commit, git_init, write_tree

PIPELINE = """\
    remote: {remote}
    params: {{scale: 2}}
    stages:
      score:
        kind: command
        cmd: >-
          python -c "import json; v = int(open('in.txt').read()) * ${{params.scale}};
          json.dump(dict(v=v), open('m.json', 'w'))"
        deps: [in.txt]
        outs: [m.json]
        metrics: [m.json]
"""


def _origin(root: Path, remote: Path, mlpipe: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    """main ran and pushed (v = 42); branch feat changes a param (v = 63) and pushed; the
    merge of feat into main is refs/pull/1/merge, as a forge makes it."""
    root.mkdir()
    git_init(root)
    write_tree(root, {"mlpipe.yaml": PIPELINE.format(remote=remote), "in.txt": "21\n",
                      ".gitignore": ".mlpipe/\nm.json\n"})
    monkeypatch.chdir(root)
    assert mlpipe("run").exit_code == 0 and mlpipe("push").exit_code == 0
    git_commit(root, "base")
    git(root, "checkout", "-q", "-b", "feat")
    (root / "mlpipe.yaml").write_text((root / "mlpipe.yaml").read_text()
                                      .replace("scale: 2", "scale: 3"))
    assert mlpipe("run").exit_code == 0 and mlpipe("push").exit_code == 0
    git_commit(root, "scale 3")
    git(root, "checkout", "-q", "--detach", "main")
    git(root, "merge", "-q", "--no-ff", "feat", "-m", "Merge feat into main")
    git(root, "update-ref", "refs/pull/1/merge", "HEAD")
    git(root, "checkout", "-q", "main")


def _ci_checkout(origin: Path, dest: Path) -> None:
    """What actions/checkout does for a pull request by default: fetch-depth 1."""
    dest.mkdir()
    git(dest, "init", "-q")
    git(dest, "remote", "add", "origin", origin.as_uri())
    git(dest, "fetch", "-q", "--depth=1", "origin", "refs/pull/1/merge")
    git(dest, "checkout", "-q", "--detach", "FETCH_HEAD")


def test_metrics_diff_in_a_depth_one_clone_of_the_merge_ref(
        tmp_path: Path, mlpipe: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    origin, remote, ci = tmp_path / "origin", tmp_path / "remote", tmp_path / "ci"
    _origin(origin, remote, mlpipe, monkeypatch)
    _ci_checkout(origin, ci)
    monkeypatch.chdir(ci)

    missing = mlpipe("metrics", "diff", "origin/main", "HEAD")
    assert missing.exit_code == 2
    assert missing.stderr.strip() == (
        "mlpipe: error: origin/main: not in this shallow clone; fetch it with "
        "`git fetch --depth=1 origin main` (or check out with fetch-depth: 0)")

    git(ci, "fetch", "-q", "--depth=1", "origin", "main")
    assert not (ci / ".mlpipe").exists()  # nothing cached here: both sides come from the remote
    diff = mlpipe("metrics", "diff", "origin/main", "HEAD", "--json")
    assert diff.exit_code == 0, diff.stderr
    changes = json.loads(diff.stdout)["changes"]
    assert changes == [{"path": "m.json", "key": "v", "old": 42, "new": 63, "change": 21.0}]
    params = mlpipe("params", "diff", "origin/main", "HEAD", "--json")
    assert [(c["key"], c["old"], c["new"]) for c in json.loads(params.stdout)["changes"]] == [
        ("scale", 2, 3)]

    # The base's parent is beyond the cut: one line, no traceback, no wrong "no pipeline".
    for args in (("status", "--rev", "HEAD^2"), ("params", "diff", "HEAD~1"),
                 ("reproduce", "HEAD~1")):
        cut = mlpipe(*args)
        assert cut.exit_code == 2, args
        assert cut.stderr.count("\n") == 1 and "not in this shallow clone" in cut.stderr
        assert "fetch-depth: 0" in cut.stderr


def test_pull_rev_brings_what_the_base_lock_records(
        tmp_path: Path, mlpipe: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    origin, remote, ci = tmp_path / "origin", tmp_path / "remote", tmp_path / "ci"
    _origin(origin, remote, mlpipe, monkeypatch)
    _ci_checkout(origin, ci)
    git(ci, "fetch", "-q", "--depth=1", "origin", "main")
    monkeypatch.chdir(ci)

    pulled = mlpipe("pull", "--rev", "origin/main", "--json")
    assert pulled.exit_code == 0, pulled.stderr
    assert json.loads(pulled.stdout)["objects"] == 1
    # Offline now: the base's metrics come from the local cache.
    (ci / "mlpipe.yaml").write_text((ci / "mlpipe.yaml").read_text()
                                    .replace(f"remote: {remote}", f"remote: {tmp_path / 'gone'}"))
    diff = mlpipe("metrics", "diff", "origin/main", "--json")
    assert diff.exit_code == 0
    assert [(c["old"], c["new"]) for c in json.loads(diff.stdout)["changes"]] == [(42, None)]
    assert "m.json at workspace" not in diff.stderr

    unknown = mlpipe("pull", "--rev", "origin/main", "nosuch")
    assert unknown.exit_code == 2 and "no stage 'nosuch'" in unknown.stderr


def test_metrics_diff_says_when_a_recorded_metrics_file_cannot_be_had(
        tmp_path: Path, mlpipe: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    origin, remote = tmp_path / "origin", tmp_path / "remote"
    _origin(origin, remote, mlpipe, monkeypatch)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True)
    monkeypatch.chdir(clone)
    subprocess.run(["rm", "-rf", str(remote)], check=True)  # the remote lost its objects
    remote.mkdir()
    diff = mlpipe("metrics", "diff", "HEAD", "origin/feat")
    assert diff.exit_code == 0, diff.stderr
    for rev in ("HEAD", "origin/feat"):
        assert f"m.json at {rev}: recorded in its lock file but not in the cache" in diff.stderr
        assert f"try `mlpipe pull --rev {rev}`" in diff.stderr
    assert "not on the remote" in diff.stderr


def test_status_rev_and_reproduce_with_data_in_a_submodule(
        tmp_path: Path, mlpipe: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    data, project = tmp_path / "data", tmp_path / "project"
    data.mkdir()
    project.mkdir()
    git_init(data)
    write_tree(data, {"raw.txt": "5\n"})
    git_commit(data, "data")
    git_init(project)
    git(project, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(data),
        "data")
    write_tree(project, {"mlpipe.yaml": """\
        stages:
          copy: {kind: command, cmd: cat data/raw.txt > out.txt, deps: [data/raw.txt],
                 outs: [out.txt]}
    """, ".gitignore": ".mlpipe/\nout.txt\n"})
    monkeypatch.chdir(project)
    assert mlpipe("run").exit_code == 0
    git_commit(project, "pipeline on submodule data")
    (project / "README.md").write_text("docs\n")
    git_commit(project, "readme")

    status = mlpipe("status", "--rev", "HEAD~1", "--json")
    assert status.exit_code == 0, status.stderr
    assert [s["action"] for s in json.loads(status.stdout)["stages"]] == ["restore"]
    rebuilt = mlpipe("reproduce", "HEAD~1")
    assert rebuilt.exit_code == 0, rebuilt.stderr
    assert "1/1 outputs reproduced" in rebuilt.stdout
    assert git(project / "data", "worktree", "list").count("\n") == 0  # cleaned up

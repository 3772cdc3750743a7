"""Versioned data outside git through the CLI: `add`, `push`/`pull` to a directory remote,
`checkout` after switching commits, and the edits and damage it refuses to hide."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Invoke, counted, git, git_commit, git_init, runs_of, statuses, write_tree

from mlpipe.state.hashing import hash_file

PIPELINE = """\
remote: {remote}
stages:
  count:
    kind: command
    cmd: {cmd}
    deps: [data/raw.csv, images]
    outs: [counts.txt]
"""
COUNT = counted("count", "wc -l < data/raw.csv > counts.txt && ls images | wc -l >> counts.txt")


def _world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, images: int) -> tuple[Path, Path]:
    """A git repository with a raw file and a directory of `images` files (not yet added),
    and the directory remote its pipeline names."""
    root, remote = tmp_path / "a", tmp_path / "remote"
    root.mkdir()
    git_init(root)
    (root / ".gitignore").write_text(".mlpipe/\nruns/\ncounts.txt\n", encoding="utf-8")
    write_tree(root, {"mlpipe.yaml": PIPELINE.format(remote=remote, cmd=json.dumps(COUNT)),
                      "data/raw.csv": "x,y\n1,2\n"})
    for i in range(images):
        sub = root / "images" / f"{i % 50:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{i}.txt").write_text(f"image {i}\n")
    monkeypatch.chdir(root)
    monkeypatch.setenv("MLPIPE_LOCK_WAIT", "0.5")
    return root, remote


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    return _world(tmp_path, monkeypatch, 60)


@pytest.fixture
def big_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    return _world(tmp_path, monkeypatch, 10_000)


def _clone(a: Path, b: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    git(a.parent, "clone", "-q", str(a), str(b))
    git(b, "config", "user.email", "test@example.com")
    git(b, "config", "user.name", "Test")
    monkeypatch.chdir(b)


def test_add_push_and_a_clone_pulls_everything_and_runs_nothing(
        big_world: tuple[Path, Path], mlpipe: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    a, _ = big_world
    added = mlpipe("add", "data/raw.csv", "images")
    assert added.exit_code == 0, added.output
    assert "added images (" in added.stdout and "10000 files" in added.stdout
    assert {"/data/raw.csv", "/images"} <= set((a / ".gitignore").read_text().splitlines())
    assert mlpipe("run").exit_code == 0
    pushed = mlpipe("push")
    assert pushed.exit_code == 0, pushed.output
    git_commit(a, "data and lock")
    assert "images/00/0.txt" not in git(a, "ls-files")  # git holds the record, not the bytes
    b = a.parent / "b"
    _clone(a, b, monkeypatch)
    assert not (b / "data" / "raw.csv").exists()
    pulled = mlpipe("pull")
    assert pulled.exit_code == 0, pulled.output
    assert "restored data/raw.csv" in pulled.output and "restored images" in pulled.output
    assert (b / "data/raw.csv").read_bytes() == (a / "data/raw.csv").read_bytes()
    assert len(list((b / "images").rglob("*.txt"))) == 10_000
    assert (b / "images/07/4357.txt").read_text() == "image 4357\n"
    ran = mlpipe("run", "--json")
    assert ran.exit_code == 0, ran.output
    assert statuses(ran) == {"count": "restored"} and runs_of(b, "count") == 0
    assert (b / "counts.txt").read_text() == (a / "counts.txt").read_text()
    assert mlpipe("status").stdout.strip() == "Everything is up to date."


def test_checkout_of_an_older_commit_gives_that_commits_data(
        world: tuple[Path, Path], mlpipe: Invoke) -> None:
    a, _ = world
    assert mlpipe("add", "data/raw.csv", "images").exit_code == 0
    old = git_commit(a, "v1")
    old_hash = hash_file(a / "data/raw.csv")
    (a / "data/raw.csv").write_text("x,y\n1,2\n3,4\n")
    (a / "images/00/0.txt").unlink()
    (a / "images/00/50.txt").unlink()
    assert mlpipe("add", "data/raw.csv", "images").exit_code == 0
    git_commit(a, "v2")
    git(a, "checkout", "-q", old)
    status = mlpipe("status")
    assert "data/raw.csv differs from the recorded data: run mlpipe checkout" in status.stdout
    done = mlpipe("checkout")
    assert done.exit_code == 0, done.output
    assert "2 paths restored, 0 unchanged" in done.stdout
    assert hash_file(a / "data/raw.csv") == old_hash
    assert (a / "images/00/0.txt").read_text() == "image 0\n"
    assert len(list((a / "images").rglob("*.txt"))) == 60
    git(a, "checkout", "-q", "main")
    ran = mlpipe("run", "--json")  # run checks the data out first
    assert ran.exit_code == 0, ran.output
    assert (a / "data/raw.csv").read_text() == "x,y\n1,2\n3,4\n"
    assert not (a / "images/00/0.txt").exists()
    assert (a / "counts.txt").read_text().split() == ["3", "49"]


def test_an_edit_since_add_is_reported_and_not_overwritten(
        world: tuple[Path, Path], mlpipe: Invoke) -> None:
    a, _ = world
    assert mlpipe("add", "data/raw.csv").exit_code == 0
    (a / "data/raw.csv").write_text("edited\n")
    status = mlpipe("status")
    assert "data/raw.csv modified: run mlpipe add to record it" in status.stdout
    refused = mlpipe("checkout")
    assert refused.exit_code == 1
    assert refused.stderr.strip().splitlines() == [
        "mlpipe: error: data/raw.csv: modified since it was added: run mlpipe add to record "
        "it, or mlpipe checkout --force to discard the edit"]
    assert (a / "data/raw.csv").read_text() == "edited\n"
    ran = mlpipe("run", "count")  # run keeps the edit and says so
    assert "data/raw.csv modified" in ran.output
    assert (a / "data/raw.csv").read_text() == "edited\n"
    assert mlpipe("checkout", "--force").exit_code == 0
    assert (a / "data/raw.csv").read_text() == "x,y\n1,2\n"


@pytest.mark.parametrize("damage", ["corrupt", "missing"])
def test_a_bad_object_on_the_remote_is_refused_naming_it(
        world: tuple[Path, Path], mlpipe: Invoke, monkeypatch: pytest.MonkeyPatch,
        damage: str) -> None:
    a, remote = world
    assert mlpipe("add", "data/raw.csv").exit_code == 0
    assert mlpipe("push").exit_code == 0
    git_commit(a, "data")
    digest = hash_file(a / "data/raw.csv")
    obj = remote / "objects" / digest[:2] / digest[2:]
    if damage == "corrupt":
        obj.chmod(0o644)
        obj.write_text("not the data\n")
    else:
        obj.unlink()
    b = a.parent / "b"
    _clone(a, b, monkeypatch)
    pulled = mlpipe("pull")
    assert pulled.exit_code == 1
    lines = pulled.stderr.strip().splitlines()
    assert lines[-1].startswith("mlpipe: error: ") and digest in lines[-1]
    assert "data data/raw.csv" in lines[-1]
    assert not (b / "data/raw.csv").exists()
    ran = mlpipe("run")
    assert ran.exit_code == 1
    assert ran.stderr.strip() == (f"mlpipe: error: data/raw.csv: its recorded content {digest} "
                                  "is not in the local cache; run mlpipe pull")


class TestAddRefuses:
    @pytest.mark.parametrize(("target", "message"), [
        ("nothing.csv", "nothing.csv: no such file or directory to add"),
        ("counts.txt", "counts.txt: written by stage 'count' (output counts.txt)"),
        ("mlpipe.yaml", "mlpipe.yaml: git tracks mlpipe.yaml; run `git rm -r --cached"),
        ("..", "..: outside the pipeline root"),
    ])
    def test_paths_it_cannot_version(self, world: tuple[Path, Path], mlpipe: Invoke,
                                     target: str, message: str) -> None:
        a, _ = world
        (a / "counts.txt").write_text("1\n")
        git_commit(a, "pipeline")
        result = mlpipe("add", target)
        assert result.exit_code == 2
        assert result.stderr.startswith(f"mlpipe: error: {message}")
        assert not (a / "mlpipe.data.yaml").exists()


def test_cache_gc_keeps_versioned_data_of_every_commit(
        world: tuple[Path, Path], mlpipe: Invoke) -> None:
    a, _ = world
    assert mlpipe("add", "data/raw.csv", "images").exit_code == 0
    old = git_commit(a, "v1")
    (a / "data/raw.csv").write_text("v2\n")
    assert mlpipe("add", "data/raw.csv").exit_code == 0
    git_commit(a, "v2")
    assert mlpipe("cache", "gc", "--all-commits").exit_code == 0
    git(a, "checkout", "-q", old)
    assert mlpipe("checkout").exit_code == 0
    assert (a / "data/raw.csv").read_text() == "x,y\n1,2\n"
    git(a, "checkout", "-q", "main")
    assert mlpipe("checkout").exit_code == 0
    assert mlpipe("cache", "gc").exit_code == 0  # only what the work tree needs now
    git(a, "checkout", "-q", old)
    gone = mlpipe("checkout")
    assert gone.exit_code == 1 and "not in the local cache; run mlpipe pull" in gone.stderr
    assert (a / "data/raw.csv").read_text() == "v2\n"  # nothing half-done

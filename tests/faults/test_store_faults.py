"""A damaged cache through `mlpipe run`: corrupt objects are caught and rebuilt; a cache that
cannot be written stops the run with one line and records nothing."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest
from conftest import Invoke, counted, git, git_commit, git_init, runs_of, statuses, write_tree

from mlpipe.errors import CacheWriteError
from mlpipe.state import fsutil, lockfile, runcache
from mlpipe.state.hashing import hash_bytes, hash_file
from mlpipe.state.history import History
from mlpipe.state.objects import ObjectStore
from mlpipe.state.workspace import Workspace

PIPELINE = f"""
params:
  n: 1
stages:
  make:
    kind: command
    cmd: >-
      {counted("make", "echo value ${params.n} > out.txt && mkdir -p outdir &&")}
      echo a ${{params.n}} > outdir/a.txt && echo b > outdir/b.txt
    outs: [out.txt, outdir]
  use:
    kind: command
    cmd: {counted("use", "cat out.txt outdir/a.txt > final.txt")}
    deps: [out.txt, outdir]
    outs: [final.txt]
"""


def make_repo(root: Path) -> Workspace:
    git_init(root)
    write_tree(root, {"mlpipe.yaml": PIPELINE})
    with (root / ".gitignore").open("a") as ignore:
        ignore.write("runs/\nout.txt\noutdir/\nfinal.txt\n")
    return Workspace.for_file(root / "mlpipe.yaml")


def store(ws: Workspace) -> ObjectStore:
    return ObjectStore(ws.objects_dir)


def damage(path: Path, how: str) -> None:
    """Truncate a stored object to half its size, or flip its last byte."""
    data = path.read_bytes()
    os.chmod(path, 0o644)
    path.write_bytes(data[: len(data) // 2] if how == "truncate" else
                     data[:-1] + bytes([data[-1] ^ 1]))


def object_to_damage(ws: Workspace, which: str) -> Path:
    """The stored object of `make`'s out.txt, its directory's manifest, or a file inside."""
    outs = lockfile.read(ws.lock_file)["make"].outs
    if which == "file":
        return store(ws).path_of(outs["out.txt"])
    if which == "manifest":
        return store(ws).path_of(outs["outdir"])
    members = dict(store(ws).read_manifest(outs["outdir"]))
    return store(ws).path_of(members["a.txt"])


def warnings_of(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if "warning" in line]


def assert_healthy(path: Path) -> None:
    """The object at `path` is back, and its bytes match its name."""
    name = path.parent.name + path.name
    data = path.read_bytes()
    expected = hash_bytes(data) + ".dir" if name.endswith(".dir") else hash_file(path)
    assert expected == name


class TestCorruptObjects:
    @pytest.mark.parametrize("how", ["truncate", "flip"])
    @pytest.mark.parametrize("which", ["file", "manifest", "member"])
    def test_deleted_output_with_a_bad_object_reruns_the_stage(
            self, project: Path, mlpipe: Invoke, which: str, how: str) -> None:
        ws = make_repo(project)
        assert mlpipe("run").exit_code == 0
        git_commit(project, "first")
        bad = object_to_damage(ws, which)
        damage(bad, how)
        shutil.rmtree(project / "outdir")
        (project / "out.txt").unlink()
        result = mlpipe("run")
        assert result.exit_code == 0, result.output
        [warning] = warnings_of(result.stdout)
        assert "stage 'make'" in warning and str(bad) in warning
        assert "does not match its hash" in warning
        assert runs_of(project, "make") == 2
        assert runs_of(project, "use") == 1  # same outputs: the consumer is up to date
        assert_healthy(bad)
        assert (project / "out.txt").read_text() == "value 1\n"

    def test_checkout_of_an_older_commit_with_a_bad_object_reruns_the_stage(
            self, project: Path, mlpipe: Invoke) -> None:
        ws = make_repo(project)
        mlpipe("run")
        first = git_commit(project, "n=1")
        bad = object_to_damage(ws, "file")
        (project / "mlpipe.yaml").write_text(PIPELINE.replace("n: 1", "n: 2"))
        assert statuses(mlpipe("run", "--json")) == {"make": "ran", "use": "ran"}
        git_commit(project, "n=2")
        damage(bad, "truncate")
        git(project, "checkout", "-q", first)
        result = mlpipe("run")
        assert result.exit_code == 0, result.output
        [warning] = warnings_of(result.stdout)
        assert "stage 'make'" in warning and str(bad) in warning
        assert "make: ran" in result.stdout and "use: restored" in result.stdout
        assert runs_of(project, "make") == 3
        assert_healthy(bad)
        committed = lockfile.loads(git(project, "show", f"{first}:mlpipe.lock"), ws.lock_file)
        assert lockfile.read(ws.lock_file)["make"].outs == committed["make"].outs


def assert_nothing_recorded(project: Path, ws: Workspace) -> None:
    assert lockfile.read(ws.lock_file) == {}
    assert History(ws.history_db).rows() == []
    assert not list(ws.runs_dir.rglob("*.json")) if ws.runs_dir.exists() else True


def one_error_line(result_stderr: str) -> str:
    lines = result_stderr.strip().splitlines()
    assert len(lines) == 1, result_stderr
    assert lines[0].startswith("mlpipe: error: cannot write to the cache at ")
    return lines[0]


class TestUnwritableCache:
    def test_disk_full_while_storing_an_output(self, project: Path, mlpipe: Invoke,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
        ws = make_repo(project)

        def half_then_full(src: str, dst: str) -> None:
            Path(dst).write_bytes(Path(src).read_bytes()[:3])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        with monkeypatch.context() as patch:
            patch.setattr(fsutil.shutil, "copyfile", half_then_full)
            result = mlpipe("run")
        assert result.exit_code == 1
        line = one_error_line(result.stderr)
        assert "(No space left on device)" in line and "free some disk space" in line
        assert "Traceback" not in result.output
        assert_nothing_recorded(project, ws)
        assert [p for p in ws.objects_dir.rglob("*") if p.is_file()] == []  # no half object
        assert statuses(mlpipe("run", "--json")) == {"make": "ran", "use": "ran"}
        assert set(lockfile.read(ws.lock_file)) == {"make", "use"}

    def test_disk_full_while_writing_the_run_cache(self, project: Path, mlpipe: Invoke,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
        ws = make_repo(project)

        def full(*args: object, **kwargs: object) -> None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(runcache, "atomic_write_text", full)
        result = mlpipe("run")
        assert result.exit_code == 1
        assert "free some disk space" in one_error_line(result.stderr)
        assert_nothing_recorded(project, ws)

    def test_read_only_cache(self, project: Path, mlpipe: Invoke) -> None:
        ws = make_repo(project)
        ws.objects_dir.parent.mkdir(parents=True)
        if os.geteuid() == 0:  # root writes through any mode: block the directory instead
            ws.objects_dir.write_text("not a directory")
        else:
            ws.objects_dir.mkdir()
            ws.objects_dir.chmod(0o555)
        try:
            result = mlpipe("run")
        finally:
            if ws.objects_dir.is_dir():
                ws.objects_dir.chmod(0o755)
        assert result.exit_code == 1
        line = one_error_line(result.stderr)
        assert str(ws.objects_dir) in line
        assert "Traceback" not in result.output
        assert_nothing_recorded(project, ws)
        assert runs_of(project, "use") == 0  # the run stopped at the first failed write


class TestPutFile:
    def test_a_failed_write_is_a_cache_write_error_and_leaves_nothing(
            self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        src = tmp_path / "model.bin"
        src.write_bytes(b"model bytes")
        objects = ObjectStore(tmp_path / "objects")

        def fail_rename(a: Path, b: Path) -> None:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))

        with monkeypatch.context() as patch, pytest.raises(
                CacheWriteError, match="make the cache directory writable"):
            patch.setattr(os, "replace", fail_rename)
            objects.put_file(src, hash_bytes(b"model bytes"))
        assert [p for p in objects.objects_dir.rglob("*") if p.is_file()] == []

    def test_an_unreadable_source_is_not_blamed_on_the_cache(self, tmp_path: Path) -> None:
        objects = ObjectStore(tmp_path / "objects")
        with pytest.raises(FileNotFoundError):
            objects.put_file(tmp_path / "missing.bin", hash_bytes(b""))

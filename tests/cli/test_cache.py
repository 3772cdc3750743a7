"""`mlpipe cache verify` and `mlpipe cache gc` on real pipelines."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from conftest import Invoke, counted, git, git_commit, git_init, runs_of, statuses, write_tree

from mlpipe.models.registry import Registry
from mlpipe.state import lockfile, runlock
from mlpipe.state.hashing import hash_file
from mlpipe.state.objects import ObjectStore
from mlpipe.state.runcache import RunCache
from mlpipe.state.workspace import Workspace

PIPELINE = f"""
params:
  n: 1
stages:
  make:
    kind: command
    cmd: >-
      {counted("make", "echo value ${params.n} > out.txt && mkdir -p parts &&")}
      echo part ${{params.n}} > parts/a.txt && echo same > parts/b.txt
    outs: [out.txt, parts]
"""


def make_project(root: Path) -> Workspace:
    write_tree(root, {"mlpipe.yaml": PIPELINE})
    return Workspace.for_file(root / "mlpipe.yaml")


def set_n(root: Path, n: int) -> None:
    (root / "mlpipe.yaml").write_text(PIPELINE.replace("n: 1", f"n: {n}"))


def cache_files(ws: Workspace) -> dict[Path, int]:
    return {p: p.stat().st_size for p in ws.state_dir.joinpath("cache").rglob("*") if p.is_file()}


def object_of(ws: Workspace, out: str) -> Path:
    digest = lockfile.read(ws.lock_file)["make"].outs[out]
    return ws.objects_dir / digest[:2] / digest[2:]


def needed_now(ws: Workspace) -> set[Path]:
    """The cache files the lock file needs: its objects, the directory's files, the entry."""
    entry = lockfile.read(ws.lock_file)["make"]
    store = ObjectStore(ws.objects_dir)
    digests = [*entry.outs.values(), *(d for _, d in store.read_manifest(entry.outs["parts"]))]
    return {store.path_of(d) for d in digests} | {RunCache(ws.runs_dir).path_of(entry.key)}


def damage(path: Path) -> None:
    os.chmod(path, 0o644)
    path.write_bytes(path.read_bytes()[:-2])


class TestVerify:
    def test_a_healthy_cache(self, project: Path, mlpipe: Invoke) -> None:
        make_project(project)
        mlpipe("run")
        result = mlpipe("cache", "verify")
        assert result.exit_code == 0
        assert result.stdout.strip() == "checked 4 objects and 1 run-cache entry: all good"
        data = json.loads(mlpipe("cache", "verify", "--json").stdout)
        assert data == {"ok": True, "objects": 4, "run_entries": 1, "bad": [], "removed": False}

    def test_bad_objects_are_listed_then_removed_and_rebuilt(self, project: Path,
                                                             mlpipe: Invoke) -> None:
        ws = make_project(project)
        mlpipe("run")
        bad = object_of(ws, "out.txt")
        damage(bad)
        entry = next(ws.runs_dir.rglob("*.json"))
        entry.write_text("{")
        result = mlpipe("cache", "verify")
        assert result.exit_code == 1
        lines = result.stdout.splitlines()
        assert lines[:2] == [
            f"bad: {bad.relative_to(project)}: content does not match its hash "
            "(truncated or modified)",
            f"bad: {entry.relative_to(project)}: corrupt run-cache entry: unreadable: "
            "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"]
        assert lines[2].startswith("checked 4 objects and 1 run-cache entry: 2 bad; ")
        assert bad.exists() and entry.exists()
        data = json.loads(mlpipe("cache", "verify", "--json").stdout)
        assert data["ok"] is False and [b["path"] for b in data["bad"]] == [str(bad), str(entry)]

        removed = mlpipe("cache", "verify", "--remove")
        assert removed.exit_code == 1
        assert "2 bad, removed; the stages that produced them will run again" in removed.stdout
        assert not bad.exists() and not entry.exists()
        assert mlpipe("cache", "verify").exit_code == 0
        (project / "out.txt").unlink()
        assert statuses(mlpipe("run", "--json")) == {"make": "ran"}
        assert runs_of(project, "make") == 2
        assert hash_file(bad) == bad.parent.name + bad.name

    def test_remove_waits_for_a_running_pipeline(self, project: Path, mlpipe: Invoke) -> None:
        ws = make_project(project)
        mlpipe("run")
        damage(object_of(ws, "out.txt"))
        with runlock.hold(ws.run_lock):
            result = mlpipe("cache", "verify", "--remove")
        assert result.exit_code == 1
        assert result.stderr.startswith("mlpipe: error: another mlpipe run holds")
        assert object_of(ws, "out.txt").exists()


def freed(stdout: str) -> tuple[int, int, int]:
    """(objects, run-cache entries, bytes) from gc's first line."""
    match = re.match(r"(?:would remove|removed) (\d+) objects?, (\d+) run-cache entr(?:y|ies) "
                     r"\((\d+) B\)", stdout)
    assert match, stdout
    objects, entries, size = match.groups()
    return int(objects), int(entries), int(size)


class TestGc:
    def test_removes_what_no_lock_file_needs_and_reports_it(self, project: Path,
                                                            mlpipe: Invoke) -> None:
        ws = make_project(project)
        mlpipe("run")
        first = cache_files(ws)
        set_n(project, 2)
        mlpipe("run")
        everything = cache_files(ws)
        needed = needed_now(ws)
        garbage = {p: size for p, size in everything.items() if p not in needed}
        assert set(garbage) < set(first)  # n=1's out.txt, parts/a.txt, manifest, run entry

        dry = mlpipe("cache", "gc", "--dry-run")
        assert dry.exit_code == 0
        assert freed(dry.stdout) == (3, 1, sum(garbage.values()))
        assert cache_files(ws) == everything

        result = mlpipe("cache", "gc")
        assert result.exit_code == 0
        assert freed(result.stdout) == (3, 1, sum(garbage.values()))
        assert result.stdout.splitlines()[1].startswith("kept 4 objects (")
        assert "needed by mlpipe.lock, 0 registered model versions" in result.stdout
        assert set(cache_files(ws)) == needed
        assert mlpipe("cache", "verify").exit_code == 0

        (project / "out.txt").unlink()
        shutil.rmtree(project / "parts")
        assert statuses(mlpipe("run", "--json")) == {"make": "restored"}
        assert statuses(mlpipe("run", "--json", "-S", "n=1")) == {"make": "ran"}
        assert runs_of(project, "make") == 3

    def test_json(self, project: Path, mlpipe: Invoke) -> None:
        ws = make_project(project)
        mlpipe("run")
        data = json.loads(mlpipe("cache", "gc", "--dry-run", "--json").stdout)
        assert data == {"dry_run": True, "removed_objects": 0, "removed_run_entries": 0,
                        "removed_temporary_files": 0, "freed_bytes": 0, "kept_objects": 4,
                        "kept_bytes": sum(s for p, s in cache_files(ws).items()
                                          if "objects" in p.parts),
                        "kept_for": ["mlpipe.lock", "0 registered model versions"],
                        "warnings": [], "removed": []}

    @pytest.mark.parametrize(("flags", "at_first"), [((), "ran"),
                                                      (("--all-commits",), "restored")])
    def test_all_commits_keeps_what_older_commits_need(
            self, project: Path, mlpipe: Invoke, flags: tuple[str, ...], at_first: str) -> None:
        make_project(project)
        git_init(project)
        with (project / ".gitignore").open("a") as ignore:
            ignore.write("runs/\nout.txt\nparts/\n")
        mlpipe("run")
        first = git_commit(project, "n=1")
        set_n(project, 2)
        mlpipe("run")
        git_commit(project, "n=2")
        result = mlpipe("cache", "gc", *flags)
        assert result.exit_code == 0
        assert freed(result.stdout)[0] == (0 if flags else 3)
        git(project, "checkout", "-q", first)
        assert statuses(mlpipe("run", "--json")) == {"make": at_first}

    def test_never_removes_a_registered_model(self, project: Path, mlpipe: Invoke) -> None:
        ws = make_project(project)
        model = project / "model.bin"
        model.write_bytes(b"weights")
        registry = Registry(ws.state_dir)
        version = registry.register("m", model, {}, {}, {})
        model.unlink()
        result = mlpipe("cache", "gc")
        assert result.exit_code == 0
        assert "kept 1 object" in result.stdout and "1 registered model versions" in result.stdout
        assert registry.model_path(version).read_bytes() == b"weights"

    def test_refuses_while_a_run_holds_the_lock(self, project: Path, mlpipe: Invoke) -> None:
        ws = make_project(project)
        mlpipe("run")
        set_n(project, 2)
        mlpipe("run")
        before = cache_files(ws)
        with runlock.hold(ws.run_lock):
            assert freed(mlpipe("cache", "gc", "--dry-run").stdout)[0] == 3
            result = mlpipe("cache", "gc")
        assert result.exit_code == 1
        [line] = result.stderr.splitlines()
        assert line.startswith(f"mlpipe: error: another mlpipe run holds {ws.run_lock} (pid ")
        assert cache_files(ws) == before

    def test_an_unreadable_lock_file_removes_nothing(self, project: Path,
                                                     mlpipe: Invoke) -> None:
        ws = make_project(project)
        mlpipe("run")
        before = cache_files(ws)
        ws.lock_file.write_text("format: 1\nstages: [oops]\n")
        result = mlpipe("cache", "gc")
        assert result.exit_code == 2
        assert result.stderr.strip() == (f"mlpipe: error: {ws.lock_file}: unreadable lock file "
                                         "('stages' must be a mapping); fix it, or delete it "
                                         "to re-run every stage")
        assert cache_files(ws) == before

    def test_in_a_directory_without_a_cache(self, project: Path, mlpipe: Invoke) -> None:
        make_project(project)
        result = mlpipe("cache", "gc")
        assert result.exit_code == 0
        assert result.stdout.startswith("removed 0 objects, 0 run-cache entries (0 B)")
        assert mlpipe("cache", "verify").exit_code == 0
        assert not (project / ".mlpipe").exists()

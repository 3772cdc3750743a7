"""Paths read back from mlpipe's own files are checked like the pipeline file's.

An edited lock file, an edited parsed copy of it (`.mlpipe/<pipeline>.lock.json`) or an
edited run-cache entry (local or pulled from a remote) must never make a restore write outside
the root, or restore other files than the stage declares: a bad lock file is one line naming
it (exit 2), a bad parsed copy gives way to the lock file, and a bad run-cache entry is a miss
with a warning, so the stage runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import Invoke, counted, git_init, runs_of, write_tree

from mlpipe.state import lockfile
from mlpipe.state.runcache import RunCache
from mlpipe.state.workspace import Workspace

PIPELINE = f"""
params:
  v: 1
stages:
  raw:
    kind: command
    cmd: {counted("raw", "echo raw ${params.v} > raw.txt")}
    outs: [raw.txt]
  final:
    kind: command
    cmd: {counted("final", "cat raw.txt > final.txt")}
    deps: [raw.txt]
    outs: [final.txt]
"""

ABSOLUTE = "ABSOLUTE"  # replaced by an absolute path beside the project
BAD_PATHS = ["../escaped-raw.txt", "sub/../../escaped-raw.txt", ABSOLUTE,
             "raw.txt\0x", "./raw.txt", "a\\..\\raw.txt"]


@pytest.fixture
def ws(project: Path, mlpipe: Invoke) -> Workspace:
    """The pipeline, run once (v=1)."""
    git_init(project)
    write_tree(project, {"mlpipe.yaml": PIPELINE})
    assert mlpipe("run").exit_code == 0
    return Workspace.for_file(project / "mlpipe.yaml")


def escaped(project: Path) -> list[Path]:
    return list(project.parent.rglob("escaped-raw.txt"))


def rename_out(outs: dict, new: str) -> dict:
    if new == ABSOLUTE:
        new = str(Path.cwd().parent / "abs" / "escaped-raw.txt")
    return {new if path == "raw.txt" else path: digest for path, digest in outs.items()}


def edit_lock(ws: Workspace, new: str) -> None:
    raw = yaml.safe_load(ws.lock_file.read_text())
    raw["stages"]["raw"]["outs"] = rename_out(raw["stages"]["raw"]["outs"], new)
    ws.lock_file.write_text(yaml.safe_dump(raw))


def edit_memo(ws: Workspace, new: str) -> None:
    memo = json.loads(ws.lock_memo.read_text())
    stage = memo["raw"]["stages"]["raw"]
    stage["outs"] = rename_out(stage["outs"], new)
    ws.lock_memo.write_text(json.dumps(memo))


def edit_entries(ws: Workspace, new: str) -> int:
    """Rename raw.txt in every local run-cache entry of stage `raw`; how many were edited."""
    edited = 0
    for path in ws.runs_dir.rglob("*.json"):
        body = json.loads(path.read_text())
        if "raw.txt" in body["outs"]:
            body["outs"] = rename_out(body["outs"], new)
            path.write_text(json.dumps(body))
            edited += 1
    return edited


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


class TestLockFile:
    @pytest.mark.parametrize("bad", BAD_PATHS)
    @pytest.mark.parametrize("command", ["run", "status"])
    def test_an_output_path_not_below_the_root_is_one_line(
            self, project: Path, mlpipe: Invoke, ws: Workspace, bad: str, command: str) -> None:
        edit_lock(ws, bad)
        (project / "raw.txt").unlink()
        result = mlpipe(command)
        assert result.exit_code == 2, result.output
        line = one_line(result.stderr)
        assert line.startswith(f"mlpipe: error: {ws.lock_file}: unreadable lock file (stage "
                               "'raw' outs: path ")
        assert "delete it to re-run every stage" in line
        assert escaped(project) == [] and not (project / "raw.txt").exists()

    def test_an_edited_dep_path_is_only_compared_never_written(
            self, project: Path, mlpipe: Invoke, ws: Workspace) -> None:
        # deps may lie outside the root (a monorepo's ../shared/raw.csv), so a dep path
        # outside it is not refused; the stage key decides, and nothing is written there
        raw = yaml.safe_load(ws.lock_file.read_text())
        raw["stages"]["final"]["deps"] = {"../escaped-raw.txt": "x"}
        ws.lock_file.write_text(yaml.safe_dump(raw))
        result = mlpipe("run")
        assert result.exit_code == 0, result.output
        assert runs_of(project, "final") == 1 and runs_of(project, "raw") == 1
        assert escaped(project) == []
        assert (project / "final.txt").read_text() == "raw 1\n"

    def test_a_dep_path_that_is_no_path_is_one_line(
            self, project: Path, mlpipe: Invoke, ws: Workspace) -> None:
        raw = yaml.safe_load(ws.lock_file.read_text())
        raw["stages"]["final"]["deps"] = {"raw.txt\0x": "x"}
        ws.lock_file.write_text(yaml.safe_dump(raw))
        result = mlpipe("run")
        assert result.exit_code == 2
        assert "stage 'final' deps: path 'raw.txt\\x00x' holds a NUL character" in one_line(
            result.stderr)

    def test_an_output_renamed_inside_the_root_is_refused(
            self, project: Path, mlpipe: Invoke, ws: Workspace) -> None:
        edit_lock(ws, "other.txt")
        (project / "raw.txt").unlink()
        result = mlpipe("run")
        assert result.exit_code == 2, result.output
        line = one_line(result.stderr)
        assert f"{ws.lock_file}: unreadable lock file (stage 'raw' records outputs " \
               "['other.txt'], but declares ['raw.txt'])" in line
        assert not (project / "other.txt").exists() and not (project / "raw.txt").exists()

    def test_the_fixed_lock_file_works_again(self, project: Path, mlpipe: Invoke,
                                             ws: Workspace) -> None:
        good = ws.lock_file.read_text()
        edit_lock(ws, "../escaped-raw.txt")
        assert mlpipe("run").exit_code == 2
        ws.lock_file.write_text(good)
        (project / "raw.txt").unlink()
        result = mlpipe("run")
        assert result.exit_code == 0, result.output
        assert (project / "raw.txt").read_text() == "raw 1\n" and runs_of(project, "raw") == 1


class TestParsedCopy:
    @pytest.mark.parametrize("bad", ["../escaped-raw.txt", ABSOLUTE, "other.txt"])
    def test_an_edited_copy_gives_way_to_the_lock_file(
            self, project: Path, mlpipe: Invoke, ws: Workspace, bad: str) -> None:
        assert mlpipe("status").exit_code == 0  # reads the lock file, keeps the parsed copy
        assert ws.lock_memo.exists()
        edit_memo(ws, bad)
        (project / "raw.txt").unlink()
        result = mlpipe("run")
        assert result.exit_code == 0, result.output
        assert escaped(project) == [] and not (project / "other.txt").exists()
        assert (project / "raw.txt").read_text() == "raw 1\n"
        assert runs_of(project, "raw") == 1  # restored from the store, as the lock file says
        assert set(lockfile.read(ws.lock_file, ws.lock_memo)["raw"].outs) == {"raw.txt"}


class TestRunCacheEntry:
    @pytest.mark.parametrize("bad", BAD_PATHS)
    def test_a_path_not_below_the_root_is_a_miss(
            self, project: Path, mlpipe: Invoke, ws: Workspace, bad: str) -> None:
        assert edit_entries(ws, bad) == 1
        (project / "raw.txt").unlink()
        ws.lock_file.unlink()  # nothing but the run-cache can restore raw.txt
        result = mlpipe("run")
        assert result.exit_code == 0, result.output
        assert "corrupt run-cache entry" in result.stdout and "the stage will run" in result.stdout
        assert escaped(project) == []
        assert runs_of(project, "raw") == 2 and (project / "raw.txt").read_text() == "raw 1\n"

    def test_an_entry_with_a_renamed_output_does_not_restore_a_stale_file(
            self, project: Path, mlpipe: Invoke, ws: Workspace) -> None:
        assert mlpipe("run", "-S", "v=2").exit_code == 0
        assert (project / "final.txt").read_text() == "raw 2\n"
        assert edit_entries(ws, "other.txt") == 2
        result = mlpipe("run")  # v=1 again: its entry names other.txt, not raw.txt
        assert result.exit_code == 0, result.output
        assert ("stage 'raw' records outputs ['other.txt'], but declares ['raw.txt']"
                in result.stdout)
        assert not (project / "other.txt").exists()
        assert (project / "raw.txt").read_text() == "raw 1\n"
        assert (project / "final.txt").read_text() == "raw 1\n"
        assert runs_of(project, "raw") == 3

    def test_a_pulled_entry_with_a_renamed_output_is_a_miss(
            self, project: Path, mlpipe: Invoke, tmp_path: Path) -> None:
        remote = tmp_path / "remote"
        git_init(project)
        write_tree(project, {"mlpipe.yaml": f"remote: {remote}\n{PIPELINE}"})
        assert mlpipe("run").exit_code == 0
        assert mlpipe("push").exit_code == 0
        ws = Workspace.for_file(project / "mlpipe.yaml")
        entries = [p for p in (remote / "runs").rglob("*.json")
                   if "raw.txt" in json.loads(p.read_text())["outs"]]
        assert len(entries) == 1
        body = json.loads(entries[0].read_text())
        body["outs"] = rename_out(body["outs"], "other.txt")
        entries[0].write_text(json.dumps(body))
        for path in ws.runs_dir.rglob("*.json"):
            path.unlink()
        ws.lock_file.unlink()
        (project / "raw.txt").unlink()
        result = mlpipe("run", "--pull")
        assert result.exit_code == 0, result.output
        assert "records outputs ['other.txt'], but declares ['raw.txt']" in result.stdout
        assert not (project / "other.txt").exists()
        assert runs_of(project, "raw") == 2 and (project / "raw.txt").read_text() == "raw 1\n"
        assert RunCache(ws.runs_dir).get(entries[0].stem) is None or set(
            RunCache(ws.runs_dir).get(entries[0].stem).outs) == {"raw.txt"}

"""Restores keep the executable bit of output files, single or inside a directory output.

The run-cache entry lists which output files were executable; a restore sets 0755 on those
and 0644 on the rest. Entries written before modes were kept still restore (0644).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from conftest import Invoke, counted, git_init, runs_of, statuses, write_tree

from mlpipe.state.workspace import Workspace

MAKE = counted("make", "echo '#!/bin/sh' > tool.sh && echo echo v${params.v} >> tool.sh && "
                       "chmod +x tool.sh && mkdir -p bin && cp tool.sh bin/run.sh && "
                       "echo data > bin/readme.txt")
PIPELINE = f"""
params:
  v: 1
stages:
  make:
    kind: command
    cmd: {MAKE}
    outs: [tool.sh, bin]
  use:
    kind: command
    cmd: {counted("use", "./tool.sh > a.txt && ./bin/run.sh > b.txt")}
    deps: [tool.sh, bin]
    outs: [a.txt, b.txt]
"""


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def ws(project: Path, mlpipe: Invoke) -> Workspace:
    git_init(project)
    write_tree(project, {"mlpipe.yaml": PIPELINE})
    result = mlpipe("run")
    assert result.exit_code == 0, result.output
    assert mode(project / "tool.sh") & 0o100 and mode(project / "bin/run.sh") & 0o100
    return Workspace.for_file(project / "mlpipe.yaml")


def test_a_restore_after_a_param_change_keeps_the_executable_bit(
        project: Path, mlpipe: Invoke, ws: Workspace) -> None:
    assert mlpipe("run", "-S", "v=2").exit_code == 0
    result = mlpipe("run", "--json")  # v=1 again: both stages come back from the run-cache
    assert result.exit_code == 0, result.output
    assert statuses(result) == {"make": "restored", "use": "restored"}
    assert mode(project / "tool.sh") == 0o755 and mode(project / "bin/run.sh") == 0o755
    assert mode(project / "bin/readme.txt") == 0o644
    assert (project / "a.txt").read_text() == "v1\n"


def test_a_deleted_output_comes_back_executable_and_the_next_stage_can_run_it(
        project: Path, mlpipe: Invoke, ws: Workspace) -> None:
    (project / "tool.sh").unlink()
    (project / "bin/run.sh").unlink()
    (project / "a.txt").unlink()
    result = mlpipe("run", "--json")
    assert result.exit_code == 0, result.output
    assert statuses(result)["make"] == "restored"
    assert mode(project / "tool.sh") == 0o755 and mode(project / "bin/run.sh") == 0o755
    assert runs_of(project, "make") == 1
    assert (project / "a.txt").read_text() == "v1\n"


def test_an_entry_without_modes_still_restores(project: Path, mlpipe: Invoke,
                                                ws: Workspace) -> None:
    for path in ws.runs_dir.rglob("*.json"):
        body = json.loads(path.read_text())
        body.pop("executable", None)
        path.write_text(json.dumps(body))
    (project / "bin/readme.txt").unlink()
    result = mlpipe("run", "--json")
    assert result.exit_code == 0, result.output
    assert statuses(result)["make"] == "restored"
    assert (project / "bin/readme.txt").read_text() == "data\n"
    assert mode(project / "bin/readme.txt") == 0o644

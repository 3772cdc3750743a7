"""Damaged SQLite databases under `.mlpipe/`: one line naming the file and what to do.

The run history only records results the lock file and the store already hold, so a damaged
history never fails a run: it is moved aside with a warning and a new one started.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from conftest import Invoke, counted, git_init, runs_of, write_tree

from mlpipe.state import lockfile
from mlpipe.state.history import History
from mlpipe.state.workspace import Workspace

PIPELINE = f"""
params:
  v: 1
stages:
  make:
    kind: command
    cmd: {counted("make", "echo ${params.v} > out.txt")}
    outs: [out.txt]
"""


def damage(db: Path, how: str) -> None:
    """Make `db` a file that is not a database, or one whose table pages are garbage."""
    if how == "not-a-database":
        db.write_bytes(b"this is not an SQLite database" * 200)
        return
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE IF NOT EXISTS filler (x TEXT)")
    conn.executemany("INSERT INTO filler VALUES (?)", [("x" * 500,)] * 200)
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    data[page:] = b"\xa5" * (len(data) - page)  # every page after the schema's
    db.write_bytes(bytes(data))
    for suffix in ("-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)


@pytest.fixture
def ws(project: Path) -> Workspace:
    git_init(project)
    write_tree(project, {"mlpipe.yaml": PIPELINE})
    return Workspace.for_file(project / "mlpipe.yaml")


def one_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("mlpipe: error: ")
    return lines[0]


HOWS = ["not-a-database", "malformed"]


class TestRunHistory:
    @pytest.mark.parametrize("how", HOWS)
    def test_a_run_with_a_damaged_history_succeeds_and_sets_it_aside(
            self, project: Path, mlpipe: Invoke, ws: Workspace, how: str) -> None:
        assert mlpipe("run").exit_code == 0
        damage(ws.history_db, how)
        result = mlpipe("run", "-S", "v=2")
        assert result.exit_code == 0, result.output
        assert "Traceback" not in result.output
        assert f"{ws.history_db}: damaged run history (" in result.stdout
        assert "a new history starts with this run" in result.stdout
        assert runs_of(project, "make") == 2
        assert (project / "out.txt").read_text() == "2\n"
        assert lockfile.read(ws.lock_file)["make"].params == {"v": 2}
        [aside] = ws.history_db.parent.glob("runs.db.damaged-*")
        assert aside.stat().st_size > 0
        assert [row.status for row in History(ws.history_db).rows()] == ["ran"]

    @pytest.mark.parametrize("how", HOWS)
    def test_reading_a_damaged_history_is_one_line(self, project: Path, mlpipe: Invoke,
                                                   ws: Workspace, how: str) -> None:
        write_tree(project, {"mlpipe.yaml": PIPELINE + "    metrics: [out.txt]\n"})
        assert mlpipe("run").exit_code == 0
        damage(ws.history_db, how)
        (project / "out.txt").unlink()  # the metrics must come from the history
        result = mlpipe("metrics", "show", "--all-commits")
        assert result.exit_code == 2, result.output
        line = one_error(result.stderr)
        assert line.startswith(f"mlpipe: error: {ws.history_db}: the run history cannot be "
                               "read (")
        assert "move it aside (the next run starts a new history)" in line


class TestRegistry:
    @pytest.mark.parametrize("how", HOWS)
    @pytest.mark.parametrize("command", [("models", "list"), ("models", "show", "m")])
    def test_a_damaged_registry_is_one_line(self, project: Path, mlpipe: Invoke, ws: Workspace,
                                            how: str, command: tuple[str, ...]) -> None:
        ws.state_dir.mkdir(parents=True, exist_ok=True)
        registry = ws.state_dir / "registry.db"
        conn = sqlite3.connect(registry)
        conn.execute("CREATE TABLE versions (name TEXT, version INTEGER)")
        conn.close()
        damage(registry, how)
        result = mlpipe(*command)
        assert result.exit_code == 2, result.output
        line = one_error(result.stderr)
        assert line.startswith(f"mlpipe: error: {registry}: the model registry cannot be read (")
        assert "move it aside to start an empty registry" in line

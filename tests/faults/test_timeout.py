"""`timeout:` through real `mlpipe run`: a hung stage of any kind is killed with its whole
process group, reported under its name, its dependents skipped, and nothing recorded."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import counted, git_commit, git_init, runs_of, write_tree
from consistency import assert_consistent, dead, kill, run, start, wait_until

from mlpipe.state import lockfile
from mlpipe.state.hashing import hash_file
from mlpipe.state.history import History
from mlpipe.state.objects import ObjectStore

FOREVER = ("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) "
           "SELECT max(x) AS x, 0 AS y FROM n")
HUNG = f"""
stages:
  hang:
    kind: command
    cmd: {counted("hang", "echo partial > hang.txt && (sleep 60 & echo $! > bg.pid; wait)")}
    outs: [hang.txt]
    timeout: 1
  after_hang:
    kind: command
    cmd: cp hang.txt after.txt
    deps: [hang.txt]
    outs: [after.txt]
  query:
    kind: ingest
    sql:
      url: sqlite:///db.sqlite
      query: "{FOREVER}"
    target: y
    timeout: 2.5
  after_query:
    kind: command
    cmd: cp out/query/train.parquet copy.parquet
    deps: [out/query/train.parquet]
    outs: [copy.parquet]
  quick:
    kind: command
    cmd: echo ok > quick.txt
    outs: [quick.txt]
    timeout: 60
"""


def git_project(root: Path, files: dict[str, str]) -> None:
    git_init(root)
    write_tree(root, files)
    git_commit(root)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_hung_stages_are_killed_with_their_process_group(tmp_path: Path, jobs: str) -> None:
    git_project(tmp_path, {"mlpipe.yaml": HUNG})
    with sqlite3.connect(tmp_path / "db.sqlite") as conn:
        conn.execute("CREATE TABLE t (x)")
    result = run(tmp_path, "run", "--json", "--keep-going", "-j", jobs, timeout=60)

    assert result.returncode == 1
    report = {s["name"]: (s["status"], s["reason"]) for s in json.loads(result.stdout)["stages"]}
    assert report["hang"] == ("failed", "timed out after 1s")
    assert report["query"] == ("failed", "timed out after 2.5s")
    assert report["after_hang"] == ("skipped", "upstream 'hang' did not complete")
    assert report["after_query"] == ("skipped", "upstream 'query' did not complete")
    assert report["quick"][0] == "ran"
    assert any(line.startswith("hang: failed in ") and line.endswith(": timed out after 1s")
               for line in result.stderr.splitlines()), result.stderr
    assert runs_of(tmp_path, "hang") == 1
    background = int((tmp_path / "bg.pid").read_text())
    wait_until(lambda: dead(background), "the stage's background process to die", timeout=5)

    assert set(lockfile.read(tmp_path / "mlpipe.lock")) == {"quick"}
    assert not ObjectStore(tmp_path / ".mlpipe/cache/objects").has(
        hash_file(tmp_path / "hang.txt"))
    history = History(tmp_path / ".mlpipe/runs.db")
    assert [row.status for row in history.rows("hang")] == ["failed"]
    assert [row.status for row in history.rows("query")] == ["failed"]
    assert_consistent(tmp_path)


ONE = """
params:
  n: 1
stages:
  a:
    kind: command
    cmd: echo ${params.n} > a.txt
    outs: [a.txt]
"""


def test_a_timeout_is_not_part_of_the_stage_key(tmp_path: Path) -> None:
    git_project(tmp_path, {"mlpipe.yaml": ONE})
    assert run(tmp_path, "run").returncode == 0
    lock = (tmp_path / "mlpipe.lock").read_text()
    (tmp_path / "mlpipe.yaml").write_text(ONE + "    timeout: 30\n")
    again = run(tmp_path, "run", "--json")
    assert [s["status"] for s in json.loads(again.stdout)["stages"]] == ["cached"]
    assert (tmp_path / "mlpipe.lock").read_text() == lock
    status = run(tmp_path, "status", "--json", "-S", "n=2")
    assert [s["reasons"] for s in json.loads(status.stdout)["stages"]] == [["param n 1 -> 2"]]


@pytest.mark.parametrize("value", ["0", "-2.5", "soon", "true"])
def test_a_timeout_must_be_a_positive_number(tmp_path: Path, value: str) -> None:
    git_project(tmp_path, {"mlpipe.yaml": ONE + f"    timeout: {value}\n"})
    result = run(tmp_path, "run")
    assert result.returncode == 2
    shown = {"true": "True", "soon": "'soon'"}.get(value, value)
    assert result.stderr == (f"mlpipe: error: {tmp_path / 'mlpipe.yaml'}:9:5: stage 'a': "
                             f"'timeout' must be a positive number of seconds, not {shown}\n")
    assert not (tmp_path / "a.txt").exists()


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_killed_run_takes_its_timed_stage_down_with_it(tmp_path: Path, jobs: str) -> None:
    git_project(tmp_path, {"mlpipe.yaml": HUNG.replace("timeout: 1\n", "timeout: 60\n")})
    proc = start(tmp_path, "run", "hang", "-j", jobs)
    pid_file = tmp_path / "bg.pid"
    wait_until(lambda: pid_file.exists() and pid_file.read_text().strip(), "the stage to start")
    kill(proc)  # the run's own process group; the stage leads another one
    background = int(pid_file.read_text())
    wait_until(lambda: dead(background), "the stage's background process to die", timeout=5)
    assert not (tmp_path / "mlpipe.lock").exists()

"""Stages that fail, that exit 0 without writing a declared output, or that write garbage into a
metrics file: reported under their names, dependents skipped, exit 1, nothing recorded."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import counted, git_commit, git_init, runs_of, write_tree
from consistency import assert_consistent, run

from mlpipe.state import lockfile
from mlpipe.state.hashing import hash_file
from mlpipe.state.history import History
from mlpipe.state.objects import ObjectStore
from mlpipe.state.runcache import parse_entry

PIPELINE = f"""
stages:
  fails:
    kind: command
    cmd: {counted("fails", "echo half > f.txt && echo oops >&2 && exit 3")}
    outs: [f.txt]
  forgets:
    kind: command
    cmd: {counted("forgets", "echo nothing written")}
    outs: [forgot.txt]
  garbage:
    kind: command
    cmd: {counted("garbage", "echo accuracy=high > metrics.json")}
    metrics: [metrics.json]
  good:
    kind: command
    cmd: echo fine > good.txt
    outs: [good.txt]
"""
BAD = ("fails", "forgets", "garbage")
for bad in BAD:
    PIPELINE += f"""  after_{bad}:
    kind: command
    cmd: echo after > after_{bad}.txt
    needs: [{bad}]
    outs: [after_{bad}.txt]
"""


def test_bad_stages_fail_under_their_names_and_record_nothing(tmp_path: Path) -> None:
    git_init(tmp_path)
    write_tree(tmp_path, {"mlpipe.yaml": PIPELINE})
    git_commit(tmp_path)
    result = run(tmp_path, "run", "--json", "--keep-going")

    assert result.returncode == 1
    stages = {s["name"]: s for s in json.loads(result.stdout)["stages"]}
    assert stages["fails"]["reason"] == "command exited with code 3"
    assert stages["forgets"]["reason"] == "declared output forgot.txt was not written"
    assert stages["garbage"]["reason"].startswith("metrics file metrics.json is not valid JSON")
    progress = result.stderr.splitlines()
    for bad in BAD:
        assert stages[bad]["status"] == "failed"
        assert stages[f"after_{bad}"]["status"] == "skipped"
        assert stages[f"after_{bad}"]["reason"] == f"upstream '{bad}' did not complete"
        assert any(line.startswith(f"{bad}: failed in ") and
                   line.endswith(stages[bad]["reason"]) for line in progress), progress
    assert "    | oops" in progress
    assert stages["good"]["status"] == "ran"

    state = tmp_path / ".mlpipe"
    assert set(lockfile.read(tmp_path / "mlpipe.lock")) == {"good"}
    store = ObjectStore(state / "cache" / "objects")
    assert not store.has(hash_file(tmp_path / "f.txt"))
    assert not store.has(hash_file(tmp_path / "metrics.json"))
    entries = [parse_entry(p.read_bytes()).outs for p in (state / "cache/runs").glob("*/*")]
    assert entries == [{"good.txt": hash_file(tmp_path / "good.txt")}]
    history = History(state / "runs.db")
    assert {row.stage: row.status for row in history.rows()} == {
        "fails": "failed", "forgets": "failed", "garbage": "failed", "good": "ran"}
    assert_consistent(tmp_path)

    again = run(tmp_path, "run", "--json", "--keep-going")
    assert again.returncode == 1
    assert {s["name"]: s["status"] for s in json.loads(again.stdout)["stages"]
            if s["name"] in BAD} == dict.fromkeys(BAD, "failed")
    assert [runs_of(tmp_path, bad) for bad in BAD] == [2, 2, 2]

"""Git as the ledger: touch, checkout of an older commit, commits recorded, blob-id fast path."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import yaml
from conftest import PY, Invoke, counted, git, git_commit, git_init, runs_of, statuses, write_tree

SCORE_PY = """
import json
lines = open("model.txt").read().splitlines()
json.dump({"lines": len(lines), "lr": float(lines[-1])}, open("metrics.json", "w"))
"""
PIPELINE = f"""
params:
  train:
    lr: 0.1
stages:
  prepare:
    kind: command
    cmd: {counted("prepare", "cp raw.csv clean.csv")}
    deps: [raw.csv]
    outs: [clean.csv]
  train:
    kind: command
    cmd: {counted("train", "cat clean.csv > model.txt && echo ${params.train.lr} >> model.txt")}
    deps: [clean.csv]
    outs: [model.txt]
  score:
    kind: command
    cmd: {counted("score", PY + " score.py")}
    deps: [score.py, model.txt]
    metrics: [metrics.json]
"""


def make_repo(root: Path) -> None:
    git_init(root)
    write_tree(root, {"mlpipe.yaml": PIPELINE, "score.py": SCORE_PY, "raw.csv": "x\n" * 1000})
    (root / ".gitignore").write_text(".mlpipe/\nruns/\nclean.csv\nmodel.txt\nmetrics.json\n")


def test_touch_without_change_runs_nothing(project: Path, mlpipe: Invoke) -> None:
    make_repo(project)
    mlpipe("run")
    stat = (project / "raw.csv").stat()
    os.utime(project / "raw.csv", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert json.loads(mlpipe("status", "--json").stdout)["stale"] is False
    result = mlpipe("run", "--json")
    assert set(statuses(result).values()) == {"cached"}
    assert runs_of(project, "prepare") == 1


def test_checkout_of_older_commit_restores_instead_of_rerunning(project: Path,
                                                                 mlpipe: Invoke) -> None:
    make_repo(project)
    mlpipe("run")
    first = git_commit(project, "lr 0.1")
    first_model = (project / "model.txt").read_text()
    text = (project / "mlpipe.yaml").read_text().replace("lr: 0.1", "lr: 0.5")
    (project / "mlpipe.yaml").write_text(text)
    assert statuses(mlpipe("run", "--json")) == {"prepare": "cached", "train": "ran",
                                                  "score": "ran"}
    git_commit(project, "lr 0.5")
    git(project, "checkout", "-q", first)
    result = mlpipe("run", "--json")
    assert statuses(result) == {"prepare": "cached", "train": "restored", "score": "restored"}
    assert (project / "model.txt").read_text() == first_model
    assert [runs_of(project, s) for s in ("prepare", "train", "score")] == [1, 2, 2]
    assert git(project, "status", "--porcelain", "--", "mlpipe.lock") == ""


def test_history_and_run_cache_record_the_commit_the_lock_does_not(project: Path,
                                                                    mlpipe: Invoke) -> None:
    make_repo(project)
    head = git_commit(project, "pipeline")
    mlpipe("run")
    lock = yaml.safe_load((project / "mlpipe.lock").read_text())
    assert all("commit" not in entry for entry in lock["stages"].values())
    entries = [json.loads(p.read_text()) for p in (project / ".mlpipe/cache/runs").rglob("*")
               if p.is_file()]
    assert len(entries) == 3 and {entry["commit"] for entry in entries} == {head}
    assert lock["stages"]["train"]["params"] == {"train.lr": 0.1}
    assert lock["stages"]["train"]["cmd"].endswith("echo 0.1 >> model.txt")
    (project / "raw.csv").write_text("y\n")
    mlpipe("run")
    with sqlite3.connect(project / ".mlpipe/runs.db") as db:
        rows = db.execute("SELECT stage, status, git_commit, dirty, metrics FROM runs"
                          " ORDER BY id").fetchall()
    assert [(r[0], r[1], r[3]) for r in rows] == [
        ("prepare", "ran", 0), ("train", "ran", 0), ("score", "ran", 0),
        ("prepare", "ran", 1), ("train", "ran", 1), ("score", "ran", 1)]
    assert {r[2] for r in rows} == {head}
    assert json.loads(rows[2][4]) == {"lines": 1001, "lr": 0.1}


def test_lock_file_is_deterministic(project: Path, mlpipe: Invoke) -> None:
    make_repo(project)
    mlpipe("run")
    before = (project / "mlpipe.lock").read_text()
    mlpipe("run", "--force")
    assert (project / "mlpipe.lock").read_text() == before
    assert list(yaml.safe_load(before)["stages"]) == ["prepare", "score", "train"]


def test_clean_tracked_file_is_keyed_by_blob_id_after_checkout(project: Path,
                                                               mlpipe: Invoke,
                                                               monkeypatch) -> None:
    import mlpipe.state.filehash as hasher

    monkeypatch.setattr(hasher, "GIT_MIN_BYTES", 0)
    make_repo(project)
    git_commit(project, "data v1")
    mlpipe("run")
    git_commit(project, "lock v1")
    (project / "raw.csv").write_text("z\n" * 1000)
    git_commit(project, "data v2")
    mlpipe("run")
    git_commit(project, "lock v2")
    git(project, "checkout", "-q", "HEAD~2")
    read: list[Path] = []
    real = hasher.hash_file
    monkeypatch.setattr(hasher, "hash_file", lambda p: read.append(p) or real(p))
    result = mlpipe("run", "--json")
    assert statuses(result)["prepare"] == "restored"
    assert project / "raw.csv" not in read

"""`mlpipe status --lock`: does the committed lock file match the pipeline, without the data?"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Invoke, counted, git, git_commit, git_init, write_tree

from mlpipe.errors import EXIT_STALE

PIPELINE = f"""
params:
  train: {{lr: 0.1}}
stages:
  prepare:
    kind: command
    cmd: {counted("prepare", "mkdir -p features && cp raw.csv features/a.csv")}
    deps: [raw.csv]
    outs: [features]
  train:
    kind: command
    cmd: {counted("train", "cat features/a.csv > model.txt && "
                           "echo ${params.train.lr} >> model.txt")}
    deps: [features/a.csv]
    outs: [model.txt]
  score:
    kind: command
    cmd: wc -l < model.txt > lines.txt
    deps: [model.txt]
    outs: [lines.txt]
"""


def ran_and_committed(root: Path, mlpipe: Invoke, pipeline: str = PIPELINE) -> None:
    root.mkdir()
    git_init(root)
    write_tree(root, {"mlpipe.yaml": pipeline, "raw.csv": "a\nb\n"})
    result = mlpipe("run", "-f", str(root / "mlpipe.yaml"))
    assert result.exit_code == 0, result.output
    (root / ".gitignore").write_text(".mlpipe/\nruns/\nfeatures/\nmodel.txt\nlines.txt\n")
    git_commit(root, "ran")


def gate(mlpipe: Invoke, root: Path, *extra: str) -> tuple[int, str]:
    result = mlpipe("status", "--lock", "-f", str(root / "mlpipe.yaml"), *extra)
    return result.exit_code, result.stdout


def test_a_fresh_clone_without_any_output_passes(tmp_path: Path, mlpipe: Invoke) -> None:
    ran_and_committed(tmp_path / "a", mlpipe)
    git(tmp_path, "clone", "-q", str(tmp_path / "a"), str(tmp_path / "b"))
    b = tmp_path / "b"
    assert not (b / "model.txt").exists() and not (b / "features").exists()
    assert gate(mlpipe, b) == (0, "mlpipe.lock matches the pipeline\n")
    # the plain status does not pass there: outputs are missing (and restorable)
    assert mlpipe("status", "--fail-if-stale", "-f", str(b / "mlpipe.yaml")).exit_code == 3


def test_a_param_edit_names_the_stage_and_what_follows(tmp_path: Path, mlpipe: Invoke) -> None:
    root = tmp_path / "a"
    ran_and_committed(root, mlpipe)
    (root / "mlpipe.yaml").write_text(PIPELINE.replace("lr: 0.1", "lr: 0.5"))
    code, out = gate(mlpipe, root)
    assert code == EXIT_STALE
    assert out.splitlines() == ["train: param train.lr 0.1 -> 0.5",
                                "score: upstream 'train' does not match"]
    assert (root / "runs" / "train").read_text() == "x\n"  # the gate ran nothing


def test_a_source_dep_edit_and_a_command_edit(tmp_path: Path, mlpipe: Invoke) -> None:
    root = tmp_path / "a"
    ran_and_committed(root, mlpipe)
    (root / "raw.csv").write_text("changed\n")
    code, out = gate(mlpipe, root, "--json")
    assert code == EXIT_STALE
    assert json.loads(out) == {"lock_matches": False, "stages": [
        {"stage": "prepare", "reasons": ["dep raw.csv changed"]},
        {"stage": "train", "reasons": ["upstream 'prepare' does not match"]},
        {"stage": "score", "reasons": ["upstream 'train' does not match"]}]}
    git(root, "checkout", "raw.csv")
    (root / "mlpipe.yaml").write_text(PIPELINE.replace("wc -l <", "wc -c <"))
    assert gate(mlpipe, root) == (EXIT_STALE, "score: command changed\n")


def test_missing_and_modified_outputs_do_not_count(tmp_path: Path, mlpipe: Invoke) -> None:
    root = tmp_path / "a"
    ran_and_committed(root, mlpipe)
    (root / "model.txt").write_text("edited by hand\n")
    (root / "lines.txt").unlink()
    assert gate(mlpipe, root)[0] == 0


def test_always_run_stages_do_not_fail_the_gate(tmp_path: Path, mlpipe: Invoke) -> None:
    pipeline = PIPELINE + """
  publish:
    kind: command
    cmd: cp lines.txt published.txt
    deps: [lines.txt]
    outs: [published.txt]
    always_run: true
"""
    root = tmp_path / "a"
    ran_and_committed(root, mlpipe, pipeline)
    assert mlpipe("status", "--fail-if-stale", "-f", str(root / "mlpipe.yaml")).exit_code == 3
    assert gate(mlpipe, root)[0] == 0


def test_a_renamed_stage_fails_until_run_drops_the_old_entry(tmp_path: Path,
                                                             mlpipe: Invoke) -> None:
    root = tmp_path / "a"
    ran_and_committed(root, mlpipe)
    (root / "mlpipe.yaml").write_text(PIPELINE.replace("  score:", "  count:"))
    code, out = gate(mlpipe, root)
    assert (code, out.splitlines()) == (EXIT_STALE, [
        "count: not in the lock file", "score: in the lock file but not in the pipeline"])
    assert mlpipe("run", "-f", str(root / "mlpipe.yaml")).exit_code == 0
    assert "score:" not in (root / "mlpipe.lock").read_text()
    assert gate(mlpipe, root)[0] == 0


def test_the_gate_takes_no_selection(tmp_path: Path, mlpipe: Invoke) -> None:
    root = tmp_path / "a"
    ran_and_committed(root, mlpipe)
    result = mlpipe("status", "--lock", "train", "-f", str(root / "mlpipe.yaml"))
    assert result.exit_code == 2 and "--lock checks the whole pipeline" in result.output

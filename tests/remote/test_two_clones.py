"""Two clones of one repository share a remote: what one computed, the other restores.

Each scenario runs against a local directory and an S3 server (moto on 127.0.0.1) through
the same commands; the stage commands count their runs, so "restored, not run" is checked
by the counts as well as by the reported statuses.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Invoke, git_commit, runs_of, statuses

from .conftest import STAGES, RemoteUnderTest, check_remote_complete, clone, in_clone


def test_push_then_pull_then_run_restores_every_stage(
        clones: tuple[Path, Path], remote: RemoteUnderTest, mlpipe: Invoke) -> None:
    a, b = clones
    assert in_clone(mlpipe, a, remote, "run").exit_code == 0
    pushed = in_clone(mlpipe, a, remote, "push")
    assert pushed.exit_code == 0, pushed.output
    # features/ (manifest + 2 files), model.txt, lines.txt, metrics.json
    assert pushed.stdout.startswith("pushed 6 objects")
    assert "3 run-cache entries" in pushed.stdout
    check_remote_complete(remote)
    assert len(remote.entries()) == 3
    git_commit(a, "lock")
    clone(a, b)
    pulled = in_clone(mlpipe, b, remote, "pull")
    assert pulled.exit_code == 0, pulled.output
    assert pulled.stdout.startswith("pulled 6 objects")
    assert not (b / "model.txt").exists()  # pull fills the cache, not the work tree
    result = in_clone(mlpipe, b, remote, "run", "--json")
    assert statuses(result) == dict.fromkeys(STAGES, "restored")
    assert [runs_of(b, s) for s in STAGES] == [0, 0, 0]
    assert (b / "model.txt").read_text() == (a / "model.txt").read_text()
    assert (b / "features" / "b.csv").read_text() == (a / "features" / "b.csv").read_text()
    again = in_clone(mlpipe, a, remote, "push")
    assert again.stdout.startswith("pushed 0 objects") and "6 already there" in again.stdout


def test_run_pull_alone_restores_every_stage(
        clones: tuple[Path, Path], remote: RemoteUnderTest, mlpipe: Invoke) -> None:
    a, b = clones
    assert in_clone(mlpipe, a, remote, "run", "--push").exit_code == 0
    git_commit(a, "lock")
    clone(a, b)
    result = in_clone(mlpipe, b, remote, "run", "--pull", "--json")
    assert result.exit_code == 0, result.output
    assert statuses(result) == dict.fromkeys(STAGES, "restored")
    assert [runs_of(b, s) for s in STAGES] == [0, 0, 0]
    assert "pulled 6 objects" in result.stderr  # with --json the summary goes to stderr
    assert json.loads(result.stdout)["ok"] is True


def test_a_param_value_computed_elsewhere_is_restored_from_the_remote_run_cache(
        clones: tuple[Path, Path], remote: RemoteUnderTest, mlpipe: Invoke) -> None:
    a, b = clones
    assert in_clone(mlpipe, a, remote, "run", "--push").exit_code == 0
    git_commit(a, "lock at lr 0.1")
    tried = in_clone(mlpipe, a, remote, "run", "--push", "-S", "train.lr=0.5")
    assert tried.exit_code == 0, tried.output
    model_at_05 = (a / "model.txt").read_text()
    clone(a, b)
    text = (b / "mlpipe.yaml").read_text().replace("lr: 0.1", "lr: 0.5")
    (b / "mlpipe.yaml").write_text(text)
    result = in_clone(mlpipe, b, remote, "run", "--pull", "--json")
    assert result.exit_code == 0, result.output
    assert statuses(result) == dict.fromkeys(STAGES, "restored")
    assert [runs_of(b, s) for s in STAGES] == [0, 0, 0]
    assert (b / "model.txt").read_text() == model_at_05
    without_remote = in_clone(mlpipe, b, remote, "run", "--json", "-S", "train.lr=0.7")
    assert statuses(without_remote)["train"] == "ran"  # a value nobody pushed still runs

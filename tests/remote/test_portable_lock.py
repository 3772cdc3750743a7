"""A lock file is a pure function of the pipeline and its content: two clones agree on it.

A monorepo: the pipeline lives in `proj/` and reads `../shared/raw.csv`, outside its root.
The clones sit at different paths (and depths) and at different commits.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import Result
from conftest import Invoke, counted, git, git_commit, git_init, runs_of, statuses, write_tree

from .conftest import RemoteUnderTest

PIPELINE = f"""
params:
  lr: 0.1
stages:
  prepare:
    kind: command
    cmd: {counted("prepare", "sort ../shared/raw.csv > sorted.csv")}
    deps: [../shared/raw.csv]
    outs: [sorted.csv]
  train:
    kind: command
    cmd: {counted("train", "cat sorted.csv > model.txt && echo ${params.lr} >> model.txt")}
    deps: [sorted.csv]
    outs: [model.txt]
"""
STAGES = ("prepare", "train")


def in_proj(mlpipe: Invoke, clone: Path, remote: RemoteUnderTest, *args: str) -> Result:
    pipeline = str(clone / "proj" / "mlpipe.yaml")
    if not (clone / "proj" / ".mlpipe" / "remotes.yaml").exists():
        added = mlpipe("remote", "add", "origin", remote.url, "--default", "-f", pipeline)
        assert added.exit_code == 0, added.output
    result = mlpipe(*args, "-f", pipeline)
    assert result.exit_code == 0, result.output
    return result


def test_two_clones_write_identical_locks_and_share_the_run_cache(
        tmp_path: Path, local_remote: RemoteUnderTest, mlpipe: Invoke) -> None:
    a, b = tmp_path / "a", tmp_path / "elsewhere" / "deeper" / "b"
    a.mkdir()
    git_init(a)
    write_tree(a, {"proj/mlpipe.yaml": PIPELINE, "shared/raw.csv": "b\na\nc\n",
                   "proj/.gitignore": ".mlpipe/\nruns/\nsorted.csv\nmodel.txt\n"})
    git_commit(a, "pipeline")
    b.parent.mkdir(parents=True)
    git(tmp_path, "clone", "-q", str(a), str(b))
    (b / "README.md").write_text("another commit in b\n")
    git_commit(b, "readme")
    assert git(a, "rev-parse", "HEAD") != git(b, "rev-parse", "HEAD")

    in_proj(mlpipe, a, local_remote, "run", "--push")
    ran = in_proj(mlpipe, b, local_remote, "run", "--pull", "--json")
    assert statuses(ran) == dict.fromkeys(STAGES, "restored")
    assert [runs_of(b / "proj", s) for s in STAGES] == [0, 0]
    lock_a = (a / "proj" / "mlpipe.lock").read_bytes()
    assert lock_a == (b / "proj" / "mlpipe.lock").read_bytes()
    text = lock_a.decode()
    assert str(tmp_path) not in text and "commit" not in text
    assert "../shared/raw.csv:" in text

    # and the other way round: b computes a new param value, a restores it
    for clone in (b, a):
        pipeline = clone / "proj" / "mlpipe.yaml"
        pipeline.write_text(PIPELINE.replace("lr: 0.1", "lr: 0.5"))
    in_proj(mlpipe, b, local_remote, "run", "--push")
    ran = in_proj(mlpipe, a, local_remote, "run", "--pull", "--json")
    assert statuses(ran) == {"prepare": "cached", "train": "restored"}
    assert [runs_of(a / "proj", s) for s in STAGES] == [1, 1]
    assert (a / "proj" / "mlpipe.lock").read_bytes() == (b / "proj" / "mlpipe.lock").read_bytes()
    assert (a / "proj" / "model.txt").read_text().endswith("0.5\n")

    # the gate agrees in both, without any data in a third, fresh clone
    git_commit(a, "lr 0.5")
    fresh = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", str(a), str(fresh))
    gate = mlpipe("status", "--lock", "-f", str(fresh / "proj" / "mlpipe.yaml"))
    assert (gate.exit_code, gate.stdout) == (0, "mlpipe.lock matches the pipeline\n")
    (fresh / "shared" / "raw.csv").write_text("changed outside the root\n")
    gate = mlpipe("status", "--lock", "-f", str(fresh / "proj" / "mlpipe.yaml"))
    assert gate.exit_code == 3 and gate.stdout.startswith(
        "prepare: dep ../shared/raw.csv changed\n")

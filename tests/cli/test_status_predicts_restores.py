"""`mlpipe status` says "restore" wherever the next `mlpipe run` restores: the outputs of an
upstream stage that will be restored are known from its run-cache entry, down to the files
inside a directory output, so the stages after it are decided on them too."""

from __future__ import annotations

import json
import random
from pathlib import Path

from conftest import Invoke, git_commit, git_init, statuses, write_tree

PIPELINE = """
params:
  a: 1
  b: 1
stages:
  shards:
    kind: command
    cmd: mkdir -p data/sub && echo ${{params.a}} > data/a.txt && echo ${{params.b}} > data/sub/b.txt
    outs: [data]
  first:
    kind: command
    cmd: cat data/a.txt > first.txt
    deps: [data/a.txt]
    outs: [first.txt]
  second:
    kind: command
    cmd: cat data/sub/* first.txt > second.txt
    deps: [data/sub, first.txt]
    outs: [second.txt]
  last:
    kind: command
    cmd: cat second.txt > last.txt && echo {c} >> last.txt
    deps: [second.txt]
    outs: [last.txt]
"""
RAN = {"run": "ran", "restore": "restored", "up_to_date": "cached"}


def status_of(mlpipe: Invoke, *args: str) -> dict[str, dict]:
    result = mlpipe("status", "--json", *args)
    assert result.exit_code == 0, result.output
    return {s["name"]: s for s in json.loads(result.stdout)["stages"]}


def test_status_says_restore_for_stages_after_a_directory_that_will_be_restored(
        project: Path, mlpipe: Invoke) -> None:
    git_init(project)
    write_tree(project, {"mlpipe.yaml": PIPELINE.format(c=0)})
    git_commit(project)
    assert mlpipe("run").exit_code == 0
    assert mlpipe("run", "-S", "a=2", "-S", "b=2").exit_code == 0

    predicted = status_of(mlpipe)
    assert {n: s["action"] for n, s in predicted.items()} == dict.fromkeys(
        ("shards", "first", "second", "last"), "restore"), predicted
    done = mlpipe("run", "--json")
    assert statuses(done) == dict.fromkeys(("shards", "first", "second", "last"), "restored")
    assert (project / "second.txt").read_text() == "1\n1\n"


def test_status_and_run_agree_over_random_edits(project: Path, mlpipe: Invoke) -> None:
    git_init(project)
    write_tree(project, {"mlpipe.yaml": PIPELINE.format(c=0)})
    git_commit(project)
    assert mlpipe("run").exit_code == 0
    rng = random.Random(20)
    for step in range(12):
        args = ("-S", f"a={rng.choice((1, 2))}", "-S", f"b={rng.choice((1, 2))}")
        (project / "mlpipe.yaml").write_text(PIPELINE.format(c=rng.choice((0, 1))))
        if rng.random() < 0.3:
            (project / "first.txt").unlink(missing_ok=True)
        predicted = status_of(mlpipe, *args)
        done = mlpipe("run", "--json", *args)
        assert done.exit_code == 0, done.output
        ran = statuses(done)
        for name, said in predicted.items():
            action = said["action"]
            if action != "run":  # up to date or restore: exactly what run did
                assert ran[name] == RAN[action], (step, name, said, ran)
                continue
            waits = [r for r in said["reasons"] if r.startswith("upstream '")]
            for reason in waits:  # waiting only on a stage that status said will run
                upstream = reason.split("'")[1]
                assert predicted[upstream]["action"] == "run", (step, name, said, predicted)
            if not waits:
                assert ran[name] == "ran", (step, name, said, ran)

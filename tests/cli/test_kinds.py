"""Stage kinds as plug-ins: named outputs, `stage.output` references, metric outputs."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import Invoke, statuses, write_tree

PIPELINE = """
params:
  text: hello
stages:
  make:
    kind: fake_produce
    text: ${params.text}
  shout:
    kind: fake_consume
    source: make.data
"""


def test_reference_makes_the_edge_and_the_dep(project: Path, mlpipe: Invoke) -> None:
    write_tree(project, {"mlpipe.yaml": PIPELINE})
    body = json.loads(mlpipe("dag", "--json").stdout)
    assert body["edges"] == [["make", "shout"]]
    shout = body["stages"][1]
    assert shout["deps"] == ["out/make/data.txt"]
    assert shout["outs"] == ["out/shout/result.txt"]
    assert statuses(mlpipe("run", "--json")) == {"make": "ran", "shout": "ran"}
    assert (project / "out/shout/result.txt").read_text() == "HELLO"


def test_kind_stages_are_cached_and_restored(project: Path, mlpipe: Invoke) -> None:
    write_tree(project, {"mlpipe.yaml": PIPELINE})
    mlpipe("run")
    assert statuses(mlpipe("run", "--json")) == {"make": "cached", "shout": "cached"}
    assert statuses(mlpipe("run", "--json", "-S", "text=bye")) == {"make": "ran", "shout": "ran"}
    assert statuses(mlpipe("run", "--json")) == {"make": "restored", "shout": "restored"}
    assert (project / "out/shout/result.txt").read_text() == "HELLO"


def test_metric_outputs_reach_the_history(project: Path, mlpipe: Invoke) -> None:
    write_tree(project, {"mlpipe.yaml": PIPELINE})
    mlpipe("run")
    with sqlite3.connect(project / ".mlpipe/runs.db") as db:
        (metrics,) = db.execute("SELECT metrics FROM runs WHERE stage = 'make'").fetchone()
    assert json.loads(metrics) == {"length": 5}


def test_input_may_be_a_plain_path(project: Path, mlpipe: Invoke) -> None:
    write_tree(project, {"notes.txt": "plain", "mlpipe.yaml": """
        stages:
          shout:
            kind: fake_consume
            source: notes.txt
        """})
    assert statuses(mlpipe("run", "--json")) == {"shout": "ran"}
    assert (project / "out/shout/result.txt").read_text() == "PLAIN"


@pytest.mark.parametrize(("source", "message"), [
    ("make.dta", "mlpipe.yaml:10:5: stage 'shout': stage 'make' has no output 'dta' "
                 "(did you mean 'data'?); its outputs: data, stats"),
    ("shout.result", "stage 'shout': 'source' refers to the stage's own output"),
    ("mkae.data", "stage 'shout': dep 'mkae.data' does not exist and no stage writes it"),
])
def test_bad_references(source: str, message: str, project: Path, mlpipe: Invoke) -> None:
    write_tree(project, {"mlpipe.yaml": PIPELINE.replace("make.data", source)})
    result = mlpipe("run")
    assert result.exit_code == 2
    assert message in result.stderr

"""A metric keeps one name across commits: adding a second metrics file does not rename the
first file's metrics; a name two files share is qualified (`file:name`) in every row."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Invoke, git_commit, git_init, write_tree

ONE = """\
stages:
  train:
    kind: command
    cmd: python write.py m.json accuracy=0.8 loss=0.5
    metrics: [m.json]
"""
WRITE = """\
import json, sys
values = dict(pair.split("=") for pair in sys.argv[2:])
json.dump({k: json.loads(v) for k, v in values.items()}, open(sys.argv[1], "w"))
"""
TWO = ONE + """\
  bench:
    kind: command
    cmd: python write.py bench.json latency_ms=12 loss=0.7
    metrics: [bench.json]
"""


def _rows(mlpipe: Invoke) -> list[dict]:
    result = mlpipe("metrics", "show", "--all-commits", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_second_metrics_file_renames_nothing_but_true_clashes(project: Path,
                                                                 mlpipe: Invoke) -> None:
    git_init(project)
    write_tree(project, {"mlpipe.yaml": ONE, "write.py": WRITE})
    assert mlpipe("run").exit_code == 0
    git_commit(project, "one file")
    assert _rows(mlpipe)[0]["metrics"] == {"accuracy": 0.8, "loss": 0.5}

    write_tree(project, {"mlpipe.yaml": TWO})
    assert mlpipe("run").exit_code == 0
    git_commit(project, "two files")
    rows = _rows(mlpipe)
    assert [r["metrics"].get("accuracy") for r in rows] == [0.8, 0.8]  # one name throughout
    assert rows[0]["metrics"] == {"accuracy": 0.8, "m.json:loss": 0.5}
    assert rows[1]["metrics"] == {"accuracy": 0.8, "bench.json:loss": 0.7, "latency_ms": 12,
                                  "m.json:loss": 0.5}
    now = json.loads(mlpipe("metrics", "show", "--json").stdout)[0]["metrics"]
    assert now["accuracy"] == 0.8 and now["latency_ms"] == 12

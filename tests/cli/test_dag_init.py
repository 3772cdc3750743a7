"""`mlpipe dag` in its four formats, and `mlpipe init`."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Invoke, statuses, write_tree

DIAMOND = """
stages:
  src:
    kind: command
    cmd: echo 1 > a.txt
    outs: [a.txt]
  left:
    kind: command
    cmd: cp a.txt l.txt
    deps: [a.txt]
    outs: [l.txt]
  right:
    kind: command
    cmd: cp a.txt r.txt
    deps: [a.txt]
    outs: [r.txt]
  join:
    kind: command
    cmd: cat l.txt r.txt > j.txt
    deps: [l.txt, r.txt]
    outs: [j.txt]
  lonely:
    kind: command
    cmd: echo
    needs: [join]
"""


def test_tree(project: Path, mlpipe: Invoke) -> None:
    write_tree(project, {"mlpipe.yaml": DIAMOND})
    result = mlpipe("dag")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "src (command)",
        "├── left (command)",
        "│   └── join (command)",
        "│       └── lonely (command)",
        "└── right (command)",
        "    └── join (command) ...",
    ]


def test_mermaid_dot_json(project: Path, mlpipe: Invoke) -> None:
    write_tree(project, {"mlpipe.yaml": DIAMOND})
    mermaid = mlpipe("dag", "--mermaid").stdout
    assert mermaid.startswith("flowchart TD\n")
    assert '    s0["src"]' in mermaid and "    s0 --> s1" in mermaid and "s3 --> s4" in mermaid
    dot = mlpipe("dag", "--dot").stdout
    assert '"left" -> "join";' in dot and dot.strip().endswith("}")
    body = json.loads(mlpipe("dag", "--json").stdout)
    assert body["edges"] == [["join", "lonely"], ["left", "join"], ["right", "join"],
                             ["src", "left"], ["src", "right"]]
    join = next(s for s in body["stages"] if s["name"] == "join")
    assert join["upstream"] == ["left", "right"]


def test_dag_of_targets_and_format_conflict(project: Path, mlpipe: Invoke) -> None:
    write_tree(project, {"mlpipe.yaml": DIAMOND})
    body = json.loads(mlpipe("dag", "left", "--json").stdout)
    assert [s["name"] for s in body["stages"]] == ["src", "left"]
    result = mlpipe("dag", "--dot", "--json")
    assert result.exit_code == 2
    assert "choose one of --mermaid, --dot, --json" in result.stderr


def test_init_writes_a_pipeline_that_runs(project: Path, mlpipe: Invoke) -> None:
    (project / ".gitignore").write_text("*.pyc\n")
    result = mlpipe("init")
    assert result.exit_code == 0
    assert (project / ".gitignore").read_text() == "*.pyc\n.mlpipe/\n"
    run = mlpipe("run", "--json")
    assert statuses(run) == {"prepare": "ran", "count": "ran"}
    assert (project / "data/greeting.txt").read_text() == "hello, world\n"
    assert (project / "data/count.txt").read_text().strip() == "2"


def test_init_refuses_to_overwrite(project: Path, mlpipe: Invoke) -> None:
    (project / "mlpipe.yaml").write_text("stages: {}\n")
    result = mlpipe("init")
    assert result.exit_code == 2
    assert "already exists (use --force to overwrite it)" in result.stderr
    assert mlpipe("init", "--force").exit_code == 0
    assert "prepare:" in (project / "mlpipe.yaml").read_text()

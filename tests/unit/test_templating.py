"""Templated stages (`vars`, `foreach`, `matrix`) and YAML merge keys, through the loader."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from conftest import Invoke, statuses

from mlpipe.errors import SpecError
from mlpipe.spec.model import PipelineSpec
from mlpipe.spec.parse import load

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "pipelines"


def _load(tmp_path: Path, text: str, files: dict[str, str] | None = None) -> PipelineSpec:
    for name, body in (files or {}).items():
        (tmp_path / name).write_text(textwrap.dedent(body))
    path = tmp_path / "mlpipe.yaml"
    path.write_text(textwrap.dedent(text))
    return load(path)


def test_foreach_over_a_list_and_a_mapping_and_a_matrix(tmp_path: Path) -> None:
    spec = _load(tmp_path, """\
        vars:
          - shared.yaml
          - regions: [eu, us]
        stages:
          prep:
            foreach: ${regions}
            do:
              kind: command
              cmd: prep ${item} --n ${n}
              outs: ["out/${item}.csv"]
          per_seed:
            foreach: {a: 1, b: {x: 2}}
            do:
              kind: command
              cmd: run ${key} ${item}
          train:
            matrix: {region: "${regions}", depth: [2, 8]}
            kind: command
            cmd: train ${item.region} ${item.depth} > ${key}.txt
            deps: ["out/${item.region}.csv"]
        """, {"shared.yaml": "n: 3\n"})
    assert spec.names == ("prep@eu", "prep@us", "per_seed@a", "per_seed@b", "train@eu-2",
                          "train@eu-8", "train@us-2", "train@us-8")
    assert spec.stage("prep@us").config["cmd"] == "prep us --n 3"
    assert spec.stage("prep@us").outs == ("out/us.csv",)
    assert spec.stage("per_seed@b").config["cmd"] == "run b '{\"x\": 2}'"
    assert spec.stage("train@us-8").config["cmd"] == "train us 8 > us-8.txt"
    assert spec.stage("train@us-8").deps == ("out/us.csv",)
    assert spec.stage("train@eu-2").line == spec.stage("train@us-8").line == 16


def test_a_shell_variable_and_a_value_with_spaces(tmp_path: Path) -> None:
    spec = _load(tmp_path, """\
        stages:
          s:
            foreach: ["a b", "c;d"]
            do: {kind: command, cmd: "echo ${HOME} ${item}"}
        """)
    assert [s.config["cmd"] for s in spec] == ["echo ${HOME} 'a b'", "echo ${HOME} 'c;d'"]
    assert spec.names == ("s@0", "s@1")  # values that are not plain names: their index


def test_a_merge_key_is_overridden_by_a_local_key(tmp_path: Path) -> None:
    spec = _load(tmp_path, """\
        vars:
          - base: &base {kind: command, cmd: base, outs: [a.txt]}
        stages:
          one:
            <<: *base
            cmd: local
        """)
    assert spec.stage("one").config["cmd"] == "local"
    assert spec.stage("one").outs == ("a.txt",)


@pytest.mark.parametrize(("text", "where", "message"), [
    ("stages:\n  s:\n    kind: command\n    cmd: a\n    cmd: b\n", ":5:5:",
     "duplicate key 'cmd' (first defined on line 4)"),
    ("stages:\n  s:\n    foreach: [1]\n", ":3:5:", "'foreach' needs 'do'"),
    ("stages:\n  s:\n    foreach: [1]\n    kind: command\n    do: {kind: command, cmd: a}\n",
     ":4:5:", "with 'foreach', the stage goes under 'do' (found 'kind')"),
    ("stages:\n  s:\n    foreach: [1]\n    matrix: {a: [1]}\n    do: {cmd: a}\n", ":4:5:",
     "'foreach' or 'matrix', not both"),
    ("stages:\n  s:\n    foreach: []\n    do: {kind: command, cmd: a}\n", ":3:5:",
     "'foreach' must be a non-empty list or mapping"),
    ("stages:\n  s:\n    matrix: {a: 1}\n    kind: command\n    cmd: a\n", ":3:5:",
     "'matrix' must map each axis to a non-empty list"),
    ("stages:\n  s:\n    foreach: [{a: 1}]\n    do:\n      kind: command\n"
     "      cmd: x ${item.b}\n", ":6:7:", "undefined reference '${item.b}'"),
    ("stages:\n  s:\n    foreach: [a, a]\n    do: {kind: command, cmd: x}\n", ":2:3:",
     "duplicate stage name 's@a'"),
    ("vars: [3]\nstages:\n  s: {kind: command, cmd: a}\n", ":1:1:",
     "'vars' must list file names and mappings"),
    ("stages:\n  s:\n    foreach: [1]\n    do: {kind: comand, cmd: a}\n", ":4:10:",
     "stage 's@1': unknown kind 'comand'"),
])
def test_errors_point_at_the_template(tmp_path: Path, text: str, where: str,
                                      message: str) -> None:
    with pytest.raises(SpecError) as caught:
        _load(tmp_path, text)
    line = str(caught.value)
    assert f"mlpipe.yaml{where}" in line and message in line, line


def test_the_windows_example_runs_each_expansion_once(tmp_path: Path, mlpipe: Invoke,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("forecast", "windows"):
        shutil.copytree(EXAMPLES / name, tmp_path / name)
    monkeypatch.chdir(tmp_path / "windows")
    first = statuses(mlpipe("run", "--json"))
    assert len(first) == 16 and set(first.values()) == {"ran"}
    assert "evaluate@24-10" in first
    assert set(statuses(mlpipe("run", "--json")).values()) == {"cached"}
    text = (tmp_path / "windows" / "mlpipe.yaml").read_text()
    (tmp_path / "windows" / "mlpipe.yaml").write_text(
        text.replace("alphas: [0.1, 10]", "alphas: [0.1, 10, 100]"))
    third = statuses(mlpipe("run", "--json"))
    assert {n for n, s in third.items() if s == "ran"} == {
        f"{stage}@{w}-100" for stage in ("train", "evaluate") for w in (6, 12, 24)}


def test_of_several_merged_mappings_the_first_wins_and_local_keys_anywhere_override(
        tmp_path: Path) -> None:
    spec = _load(tmp_path, """\
        vars:
          - a: &a {kind: command, cmd: from-a}
            b: &b {kind: command, cmd: from-b, outs: [b.txt], desc: b}
        stages:
          s:
            desc: local
            <<: [*a, *b]
        """)
    stage = spec.stage("s")
    assert (stage.config["cmd"], stage.outs, stage.raw["desc"]) == ("from-a", ("b.txt",),
                                                                    "local")

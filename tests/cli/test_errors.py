"""Invalid pipelines and bad usage: one line naming file:line and stage, exit code 2."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import Invoke, write_tree

GOOD_STAGE = """
  base:
    kind: command
    cmd: echo hi > base.txt
    outs: [base.txt]
"""

CASES = {
    "malformed_yaml": ("stages:\n  a: [unclosed\n", r"mlpipe\.yaml:\d+:\d+: invalid YAML"),
    "duplicate_stage": (
        "stages:" + GOOD_STAGE + "  base:\n    kind: command\n    cmd: echo\n",
        r"mlpipe\.yaml:6:3: duplicate key 'base' \(first defined on line 2\)"),
    "unknown_kind": (
        "stages:\n  a:\n    kind: comand\n    cmd: echo\n",
        r"mlpipe\.yaml:3:5: stage 'a': unknown kind 'comand' \(did you mean 'command'\?\); "
        r"known kinds: .*command"),
    "missing_kind": ("stages:\n  a:\n    cmd: echo\n",
                     r"mlpipe\.yaml:3:5: stage 'a': missing required field 'kind'"),
    "missing_cmd": ("stages:\n  a:\n    kind: command\n",
                    r"stage 'a': missing required field 'cmd' for kind 'command'"),
    "unknown_field": (
        "stages:\n  a:\n    kind: command\n    cmd: echo\n    dep: [x]\n",
        r"mlpipe\.yaml:5:5: stage 'a': unknown field for kind 'command' 'dep' "
        r"\(did you mean 'deps'\?\)"),
    "cycle": (
        "stages:\n  a:\n    kind: command\n    cmd: cp b a\n    deps: [b]\n    outs: [a]\n"
        "  b:\n    kind: command\n    cmd: cp a b\n    deps: [a]\n    outs: [b]\n",
        r"mlpipe\.yaml:2: stage 'a': dependency cycle: a -> b -> a"),
    "two_writers": (
        "stages:" + GOOD_STAGE + "  other:\n    kind: command\n    cmd: echo\n"
        "    outs: [base.txt]\n",
        r"mlpipe\.yaml:6: stage 'other': output 'base.txt' is also written by stage 'base'"),
    "output_outside_root": (
        "stages:\n  a:\n    kind: command\n    cmd: echo\n    outs: [../escape.txt]\n",
        r"mlpipe\.yaml:5:5: stage 'a': output path '\.\./escape\.txt' is outside"),
    "missing_dep": (
        "stages:\n  a:\n    kind: command\n    cmd: echo\n    deps: [nowhere.csv]\n",
        r"mlpipe\.yaml:2: stage 'a': dep 'nowhere\.csv' does not exist and no stage writes it"),
    "undefined_param": (
        "params:\n  lr: 1\nstages:\n  a:\n    kind: command\n    cmd: echo ${params.lrr}\n",
        r"mlpipe\.yaml:6:5: stage 'a': undefined param 'lrr' \(did you mean 'lr'\?\)"),
    "unknown_needs": (
        "stages:" + GOOD_STAGE + "  a:\n    kind: command\n    cmd: echo\n    needs: [bsae]\n",
        r"stage 'a': 'needs' names unknown stage 'bsae' \(did you mean 'base'\?\)"),
    "no_stages": ("name: empty\n", r"mlpipe\.yaml:1:1: 'stages' must be a mapping"),
}


class TestInvalidPipeline:
    @pytest.mark.parametrize("case", sorted(CASES))
    def test_one_line_exit_2(self, case: str, project: Path, mlpipe: Invoke) -> None:
        text, pattern = CASES[case]
        write_tree(project, {"mlpipe.yaml": text})
        for command in (("run",), ("status",), ("dag",)):
            result = mlpipe(*command)
            assert result.exit_code == 2, (command, result.output)
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1, result.stderr
            assert lines[0].startswith("mlpipe: error: ")
            assert re.search(pattern, lines[0]), lines[0]
            assert "Traceback" not in result.output


class TestUsage:
    def test_missing_pipeline_file(self, project: Path, mlpipe: Invoke) -> None:
        result = mlpipe("run")
        assert result.exit_code == 2
        assert "mlpipe.yaml: pipeline file not found" in result.stderr

    def test_unknown_target_suggests(self, project: Path, mlpipe: Invoke) -> None:
        write_tree(project, {"mlpipe.yaml": "stages:" + GOOD_STAGE})
        result = mlpipe("run", "bsae")
        assert result.exit_code == 2
        assert "unknown stage 'bsae' (did you mean 'base'?)" in result.stderr

    def test_bad_override(self, project: Path, mlpipe: Invoke) -> None:
        write_tree(project, {"mlpipe.yaml": "params:\n  lr: 1\nstages:" + GOOD_STAGE})
        assert "-S lr2: undefined param 'lr2'" in mlpipe("run", "-S", "lr2=3").stderr
        assert "expected KEY=VALUE" in mlpipe("run", "-S", "lr").stderr

    def test_bad_option_value(self, project: Path, mlpipe: Invoke) -> None:
        write_tree(project, {"mlpipe.yaml": "stages:" + GOOD_STAGE})
        assert mlpipe("run", "-j", "0").exit_code == 2

    def test_pipeline_in_another_directory(self, project: Path, mlpipe: Invoke) -> None:
        write_tree(project, {"sub/pipe.yaml": "stages:" + GOOD_STAGE})
        result = mlpipe("run", "-f", "sub/pipe.yaml")
        assert result.exit_code == 0
        assert (project / "sub/base.txt").read_text() == "hi\n"
        assert (project / "sub/pipe.lock").exists()

    def test_corrupt_lock_file(self, project: Path, mlpipe: Invoke) -> None:
        write_tree(project, {"mlpipe.yaml": "stages:" + GOOD_STAGE, "mlpipe.lock": "format: 9\n"})
        result = mlpipe("run")
        assert result.exit_code == 2
        assert "mlpipe.lock: unreadable lock file (format 9, expected 1)" in result.stderr

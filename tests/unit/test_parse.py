"""spec.parse: pipeline file -> PipelineSpec, or one SpecError naming file:line:col and stage."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from mlpipe import kinds
from mlpipe.errors import SpecError, UsageError
from mlpipe.kinds.plugin import StageContext, StageKind, StageResult, output_path
from mlpipe.spec.model import PipelineSpec
from mlpipe.spec.parse import load


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_text(tmp_path: Path, text: str, overrides: Sequence[str] = ()) -> PipelineSpec:
    return load(write(tmp_path / "mlpipe.yaml", text), overrides)


@kinds.add_kind
class UnitEmit(StageKind):
    """A kind with named outputs, one of them metrics."""

    name = "unit_emit"
    optional: ClassVar[Mapping[str, Any]] = {"rows": 10}
    metric_outputs = ("score",)

    def outputs(self, stage: str, config: Mapping[str, Any]) -> dict[str, str]:
        return {"table": output_path(stage, "table.csv"),
                "score": output_path(stage, "score.json")}

    def run(self, ctx: StageContext) -> StageResult:  # pragma: no cover - never run here
        raise NotImplementedError


@kinds.add_kind
class UnitRead(StageKind):
    """A kind whose `source` field names an upstream output or a path."""

    name = "unit_read"
    required = ("source",)
    inputs = ("source",)

    def run(self, ctx: StageContext) -> StageResult:  # pragma: no cover - never run here
        raise NotImplementedError


class TestFileErrors:
    @pytest.mark.parametrize(("text", "pattern"), [
        pytest.param("stages:\n  a: [unclosed\n", r"mlpipe\.yaml:3:1: invalid YAML: ",
                     id="malformed-yaml"),
        pytest.param("stages:\n  a:\n    kind: command\n    cmd: echo\n"
                     "  a:\n    kind: command\n    cmd: echo\n",
                     r"mlpipe\.yaml:5:3: duplicate key 'a' \(first defined on line 2\)$",
                     id="duplicate-stage"),
        pytest.param("stages:\n  a:\n    kind: command\n    cmd: echo\n    cmd: echo 2\n",
                     r"mlpipe\.yaml:5:5: duplicate key 'cmd' \(first defined on line 4\)$",
                     id="duplicate-field"),
        pytest.param("- a\n- b\n", r"mlpipe\.yaml:1: the pipeline file must be a mapping",
                     id="not-a-mapping"),
        pytest.param("name: x\n", r"mlpipe\.yaml:1:1: 'stages' must be a mapping",
                     id="no-stages"),
        pytest.param("stages: {}\n", r"mlpipe\.yaml:1:1: 'stages' must be a mapping",
                     id="empty-stages"),
        pytest.param("stages:\n  a: echo hi\n",
                     r"mlpipe\.yaml:2:3: stage 'a': a stage must be a mapping of fields",
                     id="stage-not-a-mapping"),
    ])
    def test_invalid_file(self, tmp_path: Path, text: str, pattern: str) -> None:
        with pytest.raises(SpecError, match=pattern):
            load_text(tmp_path, text)

    @pytest.mark.parametrize(("field", "suggestion"), [
        ("stage", "stages"), ("parms", "params"), ("param_file", "params_file"),
    ])
    def test_unknown_top_level_field(self, tmp_path: Path, field: str, suggestion: str) -> None:
        text = f"name: x\n{field}: 1\nstages:\n  a:\n    kind: command\n    cmd: echo\n"
        with pytest.raises(SpecError, match=rf"mlpipe\.yaml:2:1: unknown top-level field "
                                            rf"'{field}' \(did you mean '{suggestion}'\?\)$"):
            load_text(tmp_path, text)

    def test_missing_pipeline_file(self, tmp_path: Path) -> None:
        with pytest.raises(SpecError, match=r"nothere\.yaml: pipeline file not found"):
            load(tmp_path / "nothere.yaml")


class TestStageErrors:
    @pytest.mark.parametrize(("body", "pattern"), [
        pytest.param("    kind: comand\n    cmd: echo\n",
                     r":3:5: stage 'a': unknown kind 'comand' \(did you mean 'command'\?\); "
                     r"known kinds: .*\bcommand\b", id="unknown-kind"),
        pytest.param("    kind: zzzz\n    cmd: echo\n",
                     r":3:5: stage 'a': unknown kind 'zzzz'; known kinds: .*\bcommand\b",
                     id="unknown-kind-no-suggestion"),
        pytest.param("    cmd: echo\n",
                     r":3:5: stage 'a': missing required field 'kind' \(one of: .*\bcommand\b",
                     id="missing-kind"),
        pytest.param("    kind: command\n    deps: [x]\n",
                     r":3:5: stage 'a': missing required field 'cmd' for kind 'command'$",
                     id="missing-cmd"),
        pytest.param("    kind: command\n    cmd: echo\n    dep: [x]\n",
                     r":5:5: stage 'a': unknown field for kind 'command' 'dep' "
                     r"\(did you mean 'deps'\?\)$", id="unknown-field-dep"),
        pytest.param("    kind: command\n    cmd: echo\n    frozn: true\n",
                     r":5:5: stage 'a': unknown field for kind 'command' 'frozn' "
                     r"\(did you mean 'frozen'\?\)$", id="unknown-field-frozen"),
        pytest.param("    kind: command\n    cmd: '  '\n",
                     r":4:5: stage 'a': 'cmd' must be a non-empty string or a list of strings",
                     id="blank-cmd"),
        pytest.param("    kind: command\n    cmd: [echo, 5]\n",
                     r":4:5: stage 'a': 'cmd' must be a non-empty string", id="cmd-list-int"),
    ])
    def test_invalid_stage(self, tmp_path: Path, body: str, pattern: str) -> None:
        with pytest.raises(SpecError, match=r"mlpipe\.yaml" + pattern) as info:
            load_text(tmp_path, "stages:\n  a:\n" + body)
        assert info.value.stage == "a"

    @pytest.mark.parametrize(("field", "value", "pattern"), [
        ("frozen", "yes-please", r"'frozen' must be true or false"),
        ("always_run", "1", r"'always_run' must be true or false"),
        ("frozen", "'true'", r"'frozen' must be true or false"),
        ("deps", "5", r"'deps' must be a list of non-empty strings"),
        ("deps", "{a: 1}", r"'deps' must be a list of non-empty strings"),
        ("outs", "['']", r"'outs' must be a list of non-empty strings"),
        ("metrics", "[[m.json]]", r"'metrics' must be a list of non-empty strings"),
        ("needs", "[1]", r"'needs' must be a list of non-empty strings"),
        ("params", "{lr: 1}", r"'params' must be a list of non-empty strings"),
    ])
    def test_bad_type(self, tmp_path: Path, field: str, value: str, pattern: str) -> None:
        text = f"stages:\n  a:\n    kind: command\n    cmd: echo\n    {field}: {value}\n"
        with pytest.raises(SpecError, match=r"mlpipe\.yaml:5:5: stage 'a': " + pattern):
            load_text(tmp_path, text)

    @pytest.mark.parametrize(("field", "path"), [
        ("outs", "../x"), ("outs", "a/../../x"), ("metrics", "../m.json"), ("outs", "."),
    ])
    def test_output_outside_the_root(self, tmp_path: Path, field: str, path: str) -> None:
        text = f"stages:\n  a:\n    kind: command\n    cmd: echo\n    {field}: ['{path}']\n"
        with pytest.raises(SpecError, match=rf"mlpipe\.yaml:5:5: stage 'a': output path "
                                            rf"'{path}' is outside the pipeline's root"):
            load_text(tmp_path, text)


class TestParamErrors:
    @pytest.mark.parametrize(("text", "pattern"), [
        pytest.param("params:\n  lr: 1\nstages:\n  a:\n    kind: command\n"
                     "    cmd: echo ${params.lrr}\n",
                     r":6:5: stage 'a': undefined param 'lrr' \(did you mean 'lr'\?\)$",
                     id="interpolated"),
        pytest.param("params:\n  train: {lr: 1}\nstages:\n  a:\n    kind: command\n"
                     "    cmd: echo\n    deps: ['${params.train.rl}']\n",
                     r":7:5: stage 'a': undefined param 'train.rl' "
                     r"\(did you mean 'train.lr'\?\)$", id="interpolated-in-list"),
        pytest.param("params:\n  lr: 1\nstages:\n  a:\n    kind: command\n    cmd: echo\n"
                     "    params: [lr, lrr]\n",
                     r":7:5: stage 'a': undefined param 'lrr' \(did you mean 'lr'\?\)$",
                     id="params-list"),
        pytest.param("stages:\n  a:\n    kind: command\n    cmd: echo ${params.x}\n",
                     r":4:5: stage 'a': undefined param 'x'$", id="no-params-at-all"),
        pytest.param("params: [1, 2]\nstages:\n  a:\n    kind: command\n    cmd: echo\n",
                     r":1:1: 'params' must be a mapping$", id="params-not-mapping"),
        pytest.param("params_file: [a]\nstages:\n  a:\n    kind: command\n    cmd: echo\n",
                     r":1:1: 'params_file' must be a path$", id="params-file-not-a-path"),
    ])
    def test_invalid_params(self, tmp_path: Path, text: str, pattern: str) -> None:
        with pytest.raises(SpecError, match=r"mlpipe\.yaml" + pattern):
            load_text(tmp_path, text)

    def test_missing_params_file_names_that_file(self, tmp_path: Path) -> None:
        text = "params_file: params.yaml\nstages:\n  a:\n    kind: command\n    cmd: echo\n"
        with pytest.raises(SpecError, match=r"mlpipe\.yaml:1:1: params file 'params\.yaml': "
                                            r"file not found$") as info:
            load_text(tmp_path, text)
        assert info.value.path == tmp_path / "mlpipe.yaml"

    def test_params_file_must_be_a_mapping(self, tmp_path: Path) -> None:
        write(tmp_path / "params.yaml", "- 1\n- 2\n")
        text = "params_file: params.yaml\nstages:\n  a:\n    kind: command\n    cmd: echo\n"
        with pytest.raises(SpecError, match=r"mlpipe\.yaml:1:1: params file 'params\.yaml' "
                                            r"must hold a mapping"):
            load_text(tmp_path, text)

    def test_params_file_errors_name_its_own_line(self, tmp_path: Path) -> None:
        write(tmp_path / "params.yaml", "lr: 1\nlr: 2\n")
        text = "params_file: params.yaml\nstages:\n  a:\n    kind: command\n    cmd: echo\n"
        with pytest.raises(SpecError, match=r"params\.yaml:2:1: duplicate key 'lr'"):
            load_text(tmp_path, text)

    @pytest.mark.parametrize(("override", "pattern"), [
        ("lrr=2", r"^-S lrr: undefined param 'lrr' \(did you mean 'lr'\?\)$"),
        ("lr", r"^-S lr: expected KEY=VALUE, got 'lr'$"),
    ])
    def test_bad_override_is_a_usage_error(self, tmp_path: Path, override: str,
                                           pattern: str) -> None:
        text = "params:\n  lr: 1\nstages:\n  a:\n    kind: command\n    cmd: echo\n"
        with pytest.raises(UsageError, match=pattern):
            load_text(tmp_path, text, [override])


PIPELINE = """\
    name: demo
    params:
      featurize:
        window: 3
        method: mean
      train:
        lr: 0.1
        early_stop: false
      seed: 1
    params_file: params.yaml
    stages:
      featurize:
        kind: command
        desc: build features
        cmd: python featurize.py --window ${params.featurize.window} --m=${params.featurize.method}
        deps: [featurize.py, data/raw.csv]
        outs: [data/features.csv]
      train:
        kind: command
        cmd:
          - python train.py
          - echo ${params.train.lr}
        deps: [data/features.csv]
        outs: [model.pkl]
        metrics: [metrics.json]
        params: [seed, train]
        frozen: ${params.train.early_stop}
        needs: [featurize]
"""

PARAMS_FILE = """\
    featurize:
      window: 5
    train:
      early_stop: true
"""


class TestHappyPath:
    @pytest.fixture
    def spec(self, tmp_path: Path) -> PipelineSpec:
        write(tmp_path / "params.yaml", PARAMS_FILE)
        return load_text(tmp_path, PIPELINE)

    def test_params_file_is_merged_under_params_and_its_values_win(
            self, spec: PipelineSpec) -> None:
        assert spec.params == {
            "featurize": {"window": 5, "method": "mean"},
            "train": {"lr": 0.1, "early_stop": True},
            "seed": 1,
        }

    def test_interpolation_inside_text(self, spec: PipelineSpec) -> None:
        assert spec.stage("featurize").config == {
            "cmd": "python featurize.py --window 5 --m=mean"}
        assert spec.stage("train").config == {"cmd": ["python train.py", "echo 0.1"]}

    def test_whole_value_reference_keeps_the_type(self, spec: PipelineSpec) -> None:
        # A string "true" would be rejected ('frozen' must be true or false).
        assert spec.stage("train").frozen is True
        assert spec.stage("featurize").frozen is False

    def test_interpolated_and_listed_params_count_as_used(self, spec: PipelineSpec) -> None:
        assert spec.stage("featurize").params == {"featurize.method": "mean",
                                                  "featurize.window": 5}
        train = spec.stage("train").params
        assert train == {"seed": 1, "train": {"lr": 0.1, "early_stop": True},
                         "train.early_stop": True, "train.lr": 0.1}
        assert list(train) == sorted(train)

    def test_metrics_are_outs_too(self, spec: PipelineSpec) -> None:
        train = spec.stage("train")
        assert train.metrics == ("metrics.json",)
        assert train.outs == ("model.pkl", "metrics.json")

    def test_stage_facts(self, spec: PipelineSpec) -> None:
        assert spec.name == "demo"
        assert spec.names == ("featurize", "train")
        featurize, train = spec.stages
        assert (featurize.line, train.line) == (12, 18)
        assert featurize.deps == ("featurize.py", "data/raw.csv")
        assert train.needs == ("featurize",)
        assert train.always_run is False
        assert featurize.raw["cmd"] == ("python featurize.py --window ${params.featurize.window}"
                                        " --m=${params.featurize.method}")
        assert type(featurize.raw) is dict and featurize.raw["desc"] == "build features"

    def test_overrides_apply_after_the_params_file(self, tmp_path: Path) -> None:
        write(tmp_path / "params.yaml", PARAMS_FILE)
        spec = load_text(tmp_path, PIPELINE, ["featurize.window=8", "train.lr=0.001",
                                              "train.early_stop=false"])
        featurize, train = spec.stages
        assert featurize.config["cmd"] == "python featurize.py --window 8 --m=mean"
        assert featurize.params["featurize.window"] == 8
        assert train.config["cmd"] == ["python train.py", "echo 0.001"]
        assert train.frozen is False
        assert spec.params["train"] == {"lr": 0.001, "early_stop": False}

    def test_paths_are_relative_to_the_pipeline_directory(
            self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        pipeline = write(tmp_path / "proj" / "sub" / "mlpipe.yaml", """\
            stages:
              a:
                kind: command
                cmd: echo
                deps: [./data/../raw.csv, raw.csv, src//x.py, ../shared.csv, /abs/in.csv]
                outs: [out/, ./model.pkl]
                metrics: ./eval/m.json
        """)
        monkeypatch.chdir(tmp_path)
        stage = load(Path("proj/sub/mlpipe.yaml")).stage("a")
        shared = (tmp_path / "proj" / "shared.csv").as_posix()
        assert stage.deps == ("raw.csv", "src/x.py", shared, "/abs/in.csv")
        assert stage.outs == ("out", "model.pkl", "eval/m.json")
        assert stage.metrics == ("eval/m.json",)
        spec = load(Path("proj/sub/mlpipe.yaml"))
        assert spec.path == pipeline and spec.root == pipeline.parent
        assert spec.name == "sub"

    def test_a_single_string_is_a_one_item_list(self, tmp_path: Path) -> None:
        spec = load_text(tmp_path, "stages:\n  a:\n    kind: command\n    cmd: echo\n"
                                   "    deps: in.csv\n    outs: out.csv\n")
        assert (spec.stage("a").deps, spec.stage("a").outs) == (("in.csv",), ("out.csv",))


class TestReferences:
    def test_named_outputs_become_outs_metrics_and_downstream_deps(self, tmp_path: Path) -> None:
        spec = load_text(tmp_path, """\
            stages:
              emit:
                kind: unit_emit
              read:
                kind: unit_read
                source: emit.table
        """)
        emit, read = spec.stages
        assert emit.outs == ("out/emit/table.csv", "out/emit/score.json")
        assert emit.metrics == ("out/emit/score.json",)
        assert emit.config == {"rows": 10}
        assert read.config == {"source": "out/emit/table.csv"}
        assert read.deps == ("out/emit/table.csv",)

    def test_a_plain_path_is_normalised_and_added_to_deps(self, tmp_path: Path) -> None:
        spec = load_text(tmp_path, "stages:\n  read:\n    kind: unit_read\n"
                                   "    source: ./data/x.csv\n")
        assert spec.stage("read").deps == ("data/x.csv",)

    @pytest.mark.parametrize(("source", "pattern"), [
        ("emit.tabel", r"stage 'emit' has no output 'tabel' \(did you mean 'table'\?\); "
                       r"its outputs: table, score"),
        ("read.x", r"'source' refers to the stage's own output"),
    ])
    def test_bad_reference(self, tmp_path: Path, source: str, pattern: str) -> None:
        text = (f"stages:\n  emit:\n    kind: unit_emit\n  read:\n    kind: unit_read\n"
                f"    source: {source}\n")
        with pytest.raises(SpecError, match=r"mlpipe\.yaml:6:5: stage 'read': " + pattern):
            load_text(tmp_path, text)


class TestEdgeCases:
    """Inputs the parser gets wrong today; see the report that came with these tests."""

    def test_a_numeric_stage_name_is_named_or_rejected_not_a_crash(self, tmp_path: Path) -> None:
        # YAML reads `2024:` as an int key; the parser looks the stage up by str(name).
        try:
            spec = load_text(tmp_path, "stages:\n  2024:\n    kind: command\n    cmd: echo\n")
        except SpecError as exc:
            assert exc.line == 2
        else:
            assert spec.names == ("2024",)

    def test_an_output_whose_name_starts_with_two_dots_is_inside_the_root(
            self, tmp_path: Path) -> None:
        spec = load_text(tmp_path, "stages:\n  a:\n    kind: command\n    cmd: echo\n"
                                   "    outs: [..cache/x.txt]\n")
        assert spec.stage("a").outs == ("..cache/x.txt",)

    def test_an_out_listed_twice_is_kept_once_like_a_dep(self, tmp_path: Path) -> None:
        spec = load_text(tmp_path, "stages:\n  a:\n    kind: command\n    cmd: echo\n"
                                   "    deps: [in.csv, ./in.csv]\n    outs: [x.txt, ./x.txt]\n")
        assert spec.stage("a").deps == ("in.csv",)
        assert spec.stage("a").outs == ("x.txt",)


def test_load_accepts_a_path_relative_to_the_cwd(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "p" / "mlpipe.yaml", "stages:\n  a:\n    kind: command\n    cmd: echo\n")
    monkeypatch.chdir(tmp_path)
    assert load(Path("p/mlpipe.yaml")).path == Path(os.path.abspath("p/mlpipe.yaml"))

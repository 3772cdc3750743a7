"""The register kind through `mlpipe run`: versions, aliases, gates, metrics and lineage."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import pytest
from conftest import Invoke, git_commit, git_init, statuses, write_tree

from mlpipe.models.registry import Registry


@pytest.fixture(scope="module")
def iris_models() -> tuple[object, object]:
    """Two different small fitted models (LogisticRegression on iris with C=1 and C=0.1)."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    return (LogisticRegression(C=1.0, max_iter=300).fit(x, y),
            LogisticRegression(C=0.1, max_iter=300).fit(x, y))


def write_inputs(project: Path, model: object, gates_passed: bool = True,
                 accuracy: float = 0.95) -> None:
    """What train and evaluate would leave behind: model, meta, metrics and report."""
    (project / "art").mkdir(exist_ok=True)
    joblib.dump(model, project / "art/model.joblib")
    (project / "art/meta.json").write_text(json.dumps(
        {"task": "classification", "target": "species", "seed": 0}))
    (project / "art/metrics.json").write_text(json.dumps({"accuracy": accuracy}))
    (project / "art/report.json").write_text(json.dumps(
        {"metrics": {"accuracy": accuracy, "f1_macro": 0.9}, "gates": [],
         "gates_passed": gates_passed}))


def pipeline(alias: str | None = "champion", metrics: bool = True, report: bool = True,
             name: str = "iris") -> str:
    lines = ["stages:", "  reg:", "    kind: register", f"    name: {name}",
             "    model: art/model.joblib", "    meta: art/meta.json"]
    lines += ["    metrics_file: art/metrics.json"] if metrics else []
    lines += ["    report: art/report.json"] if report else []
    lines += [f"    alias: {alias}"] if alias else []
    return "\n".join(lines) + "\n"


def entry(project: Path) -> dict:
    return json.loads((project / "out/reg/entry.json").read_text())


def test_run_registers_the_model_and_sets_the_alias(project: Path, mlpipe: Invoke,
                                                     iris_models: tuple) -> None:
    write_inputs(project, iris_models[0])
    write_tree(project, {"mlpipe.yaml": pipeline()})
    result = mlpipe("run", "--json")
    assert result.exit_code == 0, result.output
    assert statuses(result) == {"reg": "ran"}
    registry = Registry(project / ".mlpipe")
    version = registry.get("iris@champion")
    assert entry(project) == {"name": "iris", "version": 1, "digest": version.digest,
                              "aliases": ["champion"]}
    assert version.meta["target"] == "species"
    assert version.metrics == {"accuracy": 0.95}
    assert version.gates_passed is True
    loaded = joblib.load(registry.model_path(version))
    assert list(loaded.predict([[5.1, 3.5, 1.4, 0.2]])) == [0]


def test_lineage_records_commit_and_input_hashes(project: Path, mlpipe: Invoke,
                                                 iris_models: tuple) -> None:
    from mlpipe.state.hashing import hash_file

    git_init(project)
    write_inputs(project, iris_models[0])
    write_tree(project, {"mlpipe.yaml": pipeline()})
    commit = git_commit(project)
    assert mlpipe("run").exit_code == 0
    lineage = Registry(project / ".mlpipe").get("iris").lineage
    assert lineage["git_commit"] == commit and lineage["git_dirty"] is False
    assert lineage["stage"] == "reg" and lineage["root"] == str(project)
    assert lineage["inputs"]["model"] == {"path": "art/model.joblib",
                                          "hash": hash_file(project / "art/model.joblib")}
    assert set(lineage["inputs"]) == {"model", "meta", "metrics_file", "report"}


def test_same_model_same_version_new_model_moves_the_alias(project: Path, mlpipe: Invoke,
                                                           iris_models: tuple) -> None:
    write_inputs(project, iris_models[0])
    write_tree(project, {"mlpipe.yaml": pipeline()})
    mlpipe("run")
    result = mlpipe("run", "--json")
    assert statuses(result) == {"reg": "ran"}  # an alias is re-asserted on every run
    assert entry(project)["version"] == 1
    write_inputs(project, iris_models[1], accuracy=0.91)
    mlpipe("run")
    registry = Registry(project / ".mlpipe")
    assert entry(project)["version"] == 2
    assert registry.aliases("iris") == {"champion": 2}
    assert registry.get("iris:1").metrics == {"accuracy": 0.95}
    assert registry.get("iris:2").metrics == {"accuracy": 0.91}


def test_without_alias_a_second_run_is_cached(project: Path, mlpipe: Invoke,
                                             iris_models: tuple) -> None:
    write_inputs(project, iris_models[0])
    write_tree(project, {"mlpipe.yaml": pipeline(alias=None)})
    assert statuses(mlpipe("run", "--json")) == {"reg": "ran"}
    assert statuses(mlpipe("run", "--json")) == {"reg": "cached"}
    assert entry(project)["aliases"] == []
    assert Registry(project / ".mlpipe").aliases("iris") == {}


def test_failed_gates_refuse_the_alias_and_register_nothing(project: Path, mlpipe: Invoke,
                                                            iris_models: tuple) -> None:
    write_inputs(project, iris_models[0], gates_passed=False)
    write_tree(project, {"mlpipe.yaml": pipeline()})
    result = mlpipe("run", "--json")
    assert result.exit_code == 1
    assert statuses(result) == {"reg": "failed"}
    assert "gates failed in art/report.json; refusing to set alias 'champion'" in result.output
    assert Registry(project / ".mlpipe").list() == []


def test_failed_gates_without_alias_are_recorded(project: Path, mlpipe: Invoke,
                                                 iris_models: tuple) -> None:
    write_inputs(project, iris_models[0], gates_passed=False)
    write_tree(project, {"mlpipe.yaml": pipeline(alias=None)})
    assert mlpipe("run").exit_code == 0
    assert Registry(project / ".mlpipe").get("iris:1").gates_passed is False


def test_metrics_come_from_the_report_without_a_metrics_file(project: Path, mlpipe: Invoke,
                                                             iris_models: tuple) -> None:
    write_inputs(project, iris_models[0])
    write_tree(project, {"mlpipe.yaml": pipeline(metrics=False)})
    assert mlpipe("run").exit_code == 0
    assert Registry(project / ".mlpipe").get("iris").metrics == {"accuracy": 0.95,
                                                                 "f1_macro": 0.9}


def test_no_report_means_gates_passed_and_no_metrics(project: Path, mlpipe: Invoke,
                                                     iris_models: tuple) -> None:
    write_inputs(project, iris_models[0])
    write_tree(project, {"mlpipe.yaml": pipeline(metrics=False, report=False)})
    assert mlpipe("run").exit_code == 0
    version = Registry(project / ".mlpipe").get("iris@champion")
    assert version.gates_passed is True and version.metrics == {}


def test_a_report_without_gates_passed_fails_the_stage(project: Path, mlpipe: Invoke,
                                                       iris_models: tuple) -> None:
    write_inputs(project, iris_models[0])
    (project / "art/report.json").write_text(json.dumps({"passed": True}))
    write_tree(project, {"mlpipe.yaml": pipeline()})
    result = mlpipe("run")
    assert result.exit_code == 1
    assert "report has no boolean 'gates_passed'" in result.output


def test_nested_metrics_fail_the_stage(project: Path, mlpipe: Invoke, iris_models: tuple) -> None:
    write_inputs(project, iris_models[0])
    (project / "art/metrics.json").write_text(json.dumps({"by_class": {"a": 1.0}}))
    write_tree(project, {"mlpipe.yaml": pipeline()})
    result = mlpipe("run")
    assert result.exit_code == 1
    assert "metrics must be flat numbers; 'by_class' is not" in result.output


def test_a_bad_model_name_is_a_spec_error_with_its_line(project: Path, mlpipe: Invoke) -> None:
    write_tree(project, {"mlpipe.yaml": pipeline(name="'bad name'")})
    result = mlpipe("run")
    assert result.exit_code == 2
    assert "mlpipe.yaml:4" in result.output and "bad model name 'bad name'" in result.output


def test_an_upstream_command_output_feeds_register(project: Path, mlpipe: Invoke,
                                                   iris_models: tuple) -> None:
    write_inputs(project, iris_models[0])
    write_tree(project, {"mlpipe.yaml": """\
        stages:
          copy:
            kind: command
            cmd: mkdir -p built && cp art/model.joblib built/model.joblib
            deps: [art/model.joblib]
            outs: [built/model.joblib]
          reg:
            kind: register
            name: iris
            model: built/model.joblib
            meta: art/meta.json
        """})
    result = mlpipe("run", "--json")
    assert statuses(result) == {"copy": "ran", "reg": "ran"}
    assert entry(project)["digest"] == Registry(project / ".mlpipe").get("iris").digest

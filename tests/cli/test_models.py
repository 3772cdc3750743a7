"""`mlpipe models list|show|promote|rollback` on a registry filled through its API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Invoke, statuses, write_tree

from mlpipe.models.registry import Registry


def fill(state_dir: Path, gates: tuple[bool, ...] = (True, True, True)) -> Registry:
    """Register versions 1..n of `iris` (accuracy 0.8, 0.85, ...) and one `wine` model."""
    registry = Registry(state_dir)
    files = state_dir.parent / "models"
    files.mkdir(exist_ok=True)
    for number, passed in enumerate(gates, start=1):
        path = files / f"iris{number}.bin"
        path.write_bytes(f"iris model {number}".encode())
        registry.register("iris", path, {"target": "species"},
                          {"accuracy": 0.75 + 0.05 * number}, {"git_commit": f"c{number}"},
                          gates_passed=passed)
    (files / "wine.bin").write_bytes(b"wine")
    registry.register("wine", files / "wine.bin", {}, {}, {})
    return registry


def test_help_lists_the_commands(mlpipe: Invoke) -> None:
    result = mlpipe("models", "--help")
    assert result.exit_code == 0
    for command in ("list", "show", "promote", "rollback"):
        assert command in result.stdout


def test_list_on_an_empty_registry(project: Path, mlpipe: Invoke) -> None:
    assert mlpipe("models", "list").stdout.strip() == "no models registered"
    assert json.loads(mlpipe("models", "list", "--json").stdout) == {"models": []}
    assert not (project / ".mlpipe").exists()


def test_list_shows_versions_aliases_and_latest_metrics(project: Path, mlpipe: Invoke) -> None:
    fill(project / ".mlpipe").set_alias("iris", "champion", 2)
    data = json.loads(mlpipe("models", "list", "--json").stdout)
    assert data["models"][0] == {"name": "iris", "versions": [1, 2, 3], "latest": 3,
                                 "aliases": {"champion": 2}, "metrics": {"accuracy": 0.9}}
    assert [m["name"] for m in data["models"]] == ["iris", "wine"]
    text = mlpipe("models", "list").stdout
    iris_line = next(line for line in text.splitlines() if "iris" in line)
    assert iris_line.split() == ["iris", "3", "3", "champion=2", "accuracy=0.9"]


def test_show_resolves_alias_version_and_latest(project: Path, mlpipe: Invoke) -> None:
    registry = fill(project / ".mlpipe")
    registry.set_alias("iris", "champion", 1)
    shown = json.loads(mlpipe("models", "show", "iris@champion", "--json").stdout)
    assert shown["version"] == 1 and shown["aliases"] == ["champion"]
    assert shown["digest"] == registry.get("iris:1").digest
    assert shown["lineage"] == {"git_commit": "c1"} and shown["gates_passed"] is True
    assert json.loads(mlpipe("models", "show", "iris:2", "--json").stdout)["version"] == 2
    assert json.loads(mlpipe("models", "show", "iris", "--json").stdout)["aliases"] == []
    text = mlpipe("models", "show", "iris@champion").stdout
    assert "iris:1" in text and registry.get("iris:1").digest in text
    assert "lineage.git_commit" in text and "c1" in text


def test_promote_then_rollback(project: Path, mlpipe: Invoke) -> None:
    registry = fill(project / ".mlpipe")
    assert mlpipe("models", "promote", "iris", "1", "champion").stdout.strip() == (
        "iris@champion -> 1")
    assert mlpipe("models", "promote", "iris", "3", "champion").stdout.strip() == (
        "iris@champion -> 3 (was 1)")
    result = mlpipe("models", "rollback", "iris", "champion")
    assert result.exit_code == 0
    assert result.stdout.strip() == "iris@champion -> 1 (was 3)"
    assert registry.aliases("iris") == {"champion": 1}
    result = mlpipe("models", "rollback", "iris", "champion")
    assert result.exit_code == 2
    assert result.stderr == (
        "mlpipe: error: cannot roll back iris@champion: no earlier version held it\n")


def test_promote_refuses_a_version_whose_gates_failed(project: Path, mlpipe: Invoke) -> None:
    registry = fill(project / ".mlpipe", gates=(True, False))
    result = mlpipe("models", "promote", "iris", "2", "champion")
    assert result.exit_code == 2
    assert "iris:2 failed its evaluation gates" in result.stderr
    assert registry.aliases("iris") == {}
    assert mlpipe("models", "promote", "iris", "2", "champion", "--force").exit_code == 0
    assert registry.aliases("iris") == {"champion": 2}


def test_unknown_names_are_one_line_errors_with_exit_2(project: Path, mlpipe: Invoke) -> None:
    fill(project / ".mlpipe")
    cases = {
        ("show", "irs"): "unknown model 'irs' (did you mean 'iris'?)",
        ("show", "iris:9"): "unknown version 9 of model 'iris' (versions 1..3)",
        ("show", "iris@champion"): "unknown alias 'champion' of model 'iris'",
        ("promote", "iris", "7", "champion"): "unknown version 7 of model 'iris'",
        ("rollback", "wine", "staging"): "unknown alias 'staging' of model 'wine'",
    }
    for args, message in cases.items():
        result = mlpipe("models", *args)
        assert result.exit_code == 2, args
        assert result.stderr.startswith(f"mlpipe: error: {message}"), result.stderr
        assert result.stderr.count("\n") == 1


def test_file_option_finds_the_pipeline_state(project: Path, mlpipe: Invoke) -> None:
    write_tree(project, {"sub/mlpipe.yaml": "stages: {}\n"})
    fill(project / "sub" / ".mlpipe")
    data = json.loads(mlpipe("models", "list", "-f", "sub/mlpipe.yaml", "--json").stdout)
    assert [m["name"] for m in data["models"]] == ["iris", "wine"]
    assert json.loads(mlpipe("models", "list", "--json").stdout) == {"models": []}


def test_a_pipeline_run_then_models_commands(project: Path, mlpipe: Invoke) -> None:
    write_tree(project, {
        "model.bin": "weights v1",
        "meta.json": '{"target": "y"}',
        "mlpipe.yaml": """\
            stages:
              reg:
                kind: register
                name: demo
                model: model.bin
                meta: meta.json
                alias: champion
            """,
    })
    assert statuses(mlpipe("run", "--json")) == {"reg": "ran"}
    (project / "model.bin").write_text("weights v2")
    assert statuses(mlpipe("run", "--json")) == {"reg": "ran"}
    listed = json.loads(mlpipe("models", "list", "--json").stdout)["models"]
    assert listed == [{"name": "demo", "versions": [1, 2], "latest": 2,
                       "aliases": {"champion": 2}, "metrics": {}}]
    assert mlpipe("models", "rollback", "demo", "champion").stdout.strip() == (
        "demo@champion -> 1 (was 2)")
    shown = json.loads(mlpipe("models", "show", "demo@champion", "--json").stdout)
    assert shown["version"] == 1 and shown["lineage"]["stage"] == "reg"


def test_tags_descriptions_and_search_by_tag_or_metric(project: Path, mlpipe: Invoke) -> None:
    fill(project / ".mlpipe")
    assert mlpipe("models", "tag", "iris:2", "team=vision", "candidate").exit_code == 0
    assert mlpipe("models", "tag", "iris:3", "team=nlp").exit_code == 0
    shown = mlpipe("models", "describe", "iris:2", "balanced on the 2026 sample").stdout
    assert "description: balanced on the 2026 sample" in shown and "team=vision" in shown
    found = json.loads(mlpipe("models", "search", "--tag", "team=vision", "--json").stdout)
    assert [v["ref"] for v in found["versions"]] == ["iris:2"]
    assert found["versions"][0]["tags"] == {"team": "vision", "candidate": ""}
    assert found["versions"][0]["description"] == "balanced on the 2026 sample"
    refs = [line.split()[0] for line in
            mlpipe("models", "search", "--tag", "team", "--metric", "accuracy > 0.86").stdout
            .splitlines()]
    assert refs == ["iris:3"]
    assert mlpipe("models", "search", "--metric", "accuracy >= 0.99").stdout.strip() == (
        "no version matches")
    mlpipe("models", "tag", "iris:2", "--remove", "candidate", "x=1")
    found = json.loads(mlpipe("models", "search", "--tag", "x", "--json").stdout)
    assert found["versions"][0]["tags"] == {"team": "vision", "x": "1"}


def test_archive_hides_from_search_and_blocks_promotion(project: Path, mlpipe: Invoke) -> None:
    fill(project / ".mlpipe").set_alias("iris", "champion", 3)
    result = mlpipe("models", "archive", "iris@champion")
    assert result.exit_code == 2 and "iris:3 is iris@champion; move the alias first" in (
        result.output)
    assert "(archived)" in mlpipe("models", "archive", "iris:1").stdout
    refs = [v["ref"] for v in json.loads(mlpipe("models", "search", "--json").stdout)["versions"]]
    assert refs == ["iris:2", "iris:3", "wine:1"]
    everything = json.loads(mlpipe("models", "search", "--archived", "--json").stdout)
    assert [v["ref"] for v in everything["versions"]] == ["iris:1", "iris:2", "iris:3", "wine:1"]
    result = mlpipe("models", "promote", "iris", "1", "champion")
    assert result.exit_code == 2 and "iris:1 is archived; restore it first" in result.output
    assert Registry(project / ".mlpipe").aliases("iris") == {"champion": 3}
    mlpipe("models", "archive", "iris:1", "--restore")
    assert mlpipe("models", "promote", "iris", "1", "champion").exit_code == 0


@pytest.mark.parametrize(("args", "message"), [
    (("tag", "iris", "a=1"), "name the version to change: iris:VERSION or iris@ALIAS"),
    (("tag", "iris:1", "=1"), "a tag is KEY or KEY=VALUE, not '=1'"),
    (("tag", "iris:1", "--remove", "nope", "a=1"), "iris:1 has no tag 'nope'"),
    (("search", "--metric", "accuracy >= baseline.accuracy"), "compares a metric with a number"),
    (("search", "--metric", "accuracy ~ 1"), "cannot read condition 'accuracy ~ 1'"),
    (("describe", "iris:9", "x"), "unknown version 9 of model 'iris'"),
])
def test_label_errors_are_one_line(project: Path, mlpipe: Invoke, args: tuple,
                                   message: str) -> None:
    fill(project / ".mlpipe")
    result = mlpipe("models", *args)
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1, (
        result.output)

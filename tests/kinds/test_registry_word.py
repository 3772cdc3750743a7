"""A registry that keeps its word: a move made by hand survives the next run; history."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from conftest import Invoke, write_tree
from test_register import entry, iris_models, pipeline, write_inputs

from mlpipe.ml.tables import infer_task
from mlpipe.models.registry import Registry

__all__ = ["iris_models"]  # the module-scoped fixture, shared with test_register


def _two_versions(project: Path, mlpipe: Invoke, models: tuple) -> Registry:
    write_inputs(project, models[0])
    write_tree(project, {"mlpipe.yaml": pipeline()})
    assert mlpipe("run").exit_code == 0
    time.sleep(1.1)  # registry times are kept to the second: the second version comes later
    write_inputs(project, models[1], accuracy=0.91)
    assert mlpipe("run").exit_code == 0
    registry = Registry(project / ".mlpipe")
    assert registry.aliases("iris") == {"champion": 2}
    return registry


def test_a_rollback_by_hand_is_not_undone_by_the_next_run(project: Path, mlpipe: Invoke,
                                                          iris_models: tuple) -> None:
    registry = _two_versions(project, mlpipe, iris_models)
    assert mlpipe("models", "rollback", "iris", "champion").stdout.strip() == (
        "iris@champion -> 1 (was 2)")
    result = mlpipe("run")
    assert result.exit_code == 0
    assert registry.aliases("iris") == {"champion": 1}
    assert "iris@champion stays on version 1" in result.output, result.output
    assert entry(project)["aliases"] == []
    assert "stays on version 1" in entry(project)["alias_kept"]


def test_a_promotion_by_hand_holds_and_a_new_version_still_moves_the_alias(
        project: Path, mlpipe: Invoke, iris_models: tuple) -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    registry = _two_versions(project, mlpipe, iris_models)
    assert mlpipe("models", "promote", "iris", "1", "champion").exit_code == 0
    mlpipe("run")
    assert registry.aliases("iris") == {"champion": 1}
    x, y = load_iris(return_X_y=True)
    write_inputs(project, LogisticRegression(C=0.01, max_iter=300).fit(x, y))
    mlpipe("run")
    assert registry.aliases("iris") == {"champion": 3}
    assert entry(project)["aliases"] == ["champion"] and "alias_kept" not in entry(project)


def test_history_lists_registrations_and_alias_moves_with_times(
        project: Path, mlpipe: Invoke, iris_models: tuple) -> None:
    _two_versions(project, mlpipe, iris_models)
    mlpipe("models", "rollback", "iris", "champion")
    lines = mlpipe("models", "history", "iris").stdout.splitlines()
    described = [line.split("  ", 1)[1] for line in lines]
    assert described == ["iris:1 registered", "iris@champion -> 1", "iris:2 registered",
                         "iris@champion -> 2", "iris@champion -> 1 (rolled back from 2)"]
    for line in lines:
        datetime.fromisoformat(line.split("  ", 1)[0])
    only = json.loads(mlpipe("models", "history", "iris@champion", "--json").stdout)["events"]
    assert [(e["event"], e["version"], e["previous"]) for e in only] == [
        ("alias set", 1, None), ("alias set", 2, None), ("rolled back", 1, 2)]


@pytest.mark.parametrize(("ref", "message"), [
    ("wine", "unknown model 'wine'"),
    ("iris@staging", "unknown alias 'staging' of model 'iris'"),
    ("iris:1", "history takes NAME or NAME@ALIAS"),
])
def test_history_of_something_unknown_is_one_line(project: Path, mlpipe: Invoke,
                                                  iris_models: tuple, ref: str,
                                                  message: str) -> None:
    write_inputs(project, iris_models[0])
    write_tree(project, {"mlpipe.yaml": pipeline()})
    mlpipe("run")
    result = mlpipe("models", "history", ref)
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("kind", ["ingest", "train", "evaluate"])
def test_a_list_target_is_refused_by_check(project: Path, mlpipe: Invoke, kind: str) -> None:
    fields = {"ingest": "    path: data.csv\n",
              "train": "    data: data.csv\n    estimator: ridge\n",
              "evaluate": "    model: m.joblib\n    data: data.csv\n"}[kind]
    write_tree(project, {"data.csv": "a,b,c\n1,2,3\n", "m.joblib": "x",
                         "mlpipe.yaml": f"stages:\n  s:\n    kind: {kind}\n{fields}"
                                        "    target: [a, b]\n"})
    result = mlpipe("check")
    assert result.exit_code == 2
    assert "mlpipe.yaml:" in result.output and "stage 's'" in result.output
    assert "multi-output targets (a list of columns) are not supported" in result.output


@pytest.mark.parametrize(("values", "task"), [
    ([0, 1, 2] * 20, "classification"),
    (list(range(16)) * 5, "regression"),
    ([True, False] * 5, "classification"),
    (["a", "b"] * 5, "classification"),
    ([0.5, 1.5, 2.0] * 5, "regression"),
])
def test_the_task_is_the_same_for_ints_and_floats(values: list, task: str) -> None:
    assert infer_task(pd.Series(values)) == task
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        assert infer_task(pd.Series(values, dtype="float64")) == task

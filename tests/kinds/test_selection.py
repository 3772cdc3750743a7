"""`scoring:` and `cv:` for cross-validation and search, through `mlpipe run`, against
scikit-learn called directly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import Invoke, statuses, write_tree
from sklearn import model_selection as ms
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from test_train import meta_of


def _cancer(project: Path) -> pd.DataFrame:
    frame = load_breast_cancer(as_frame=True).frame.iloc[:, [0, 1, 2, 3, 4, 30]]
    frame.columns = ["a", "b", "c", "d", "e", "target"]
    frame["patient"] = np.arange(len(frame)) // 4
    (project / "data").mkdir()
    frame.to_parquet(project / "data/train.parquet", index=False)
    return frame


def _train(project: Path, mlpipe: Invoke, fields: str) -> dict:
    write_tree(project, {"mlpipe.yaml": (
        "stages:\n  train:\n    kind: train\n    data: data/train.parquet\n"
        "    target: target\n    estimator: logistic_regression\n"
        "    hyperparams: {max_iter: 1000}\n" + fields)})
    result = mlpipe("run", "--json")
    assert statuses(result) == {"train": "ran"}, result.output
    return meta_of(project)


def _plain() -> object:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=0))


def test_group_cv_keeps_groups_apart_and_scores_like_scikit_learn(project: Path,
                                                                   mlpipe: Invoke) -> None:
    frame = _cancer(project)
    meta = _train(project, mlpipe, "    cv: {type: group, folds: 4, groups: patient}\n"
                                   "    scoring: average_precision\n")
    x, y = frame[["a", "b", "c", "d", "e"]], frame["target"]
    scores = ms.cross_val_score(_plain(), x, y, cv=ms.GroupKFold(4), groups=frame["patient"],
                                scoring="average_precision")
    assert meta["cv"]["mean"] == pytest.approx(scores.mean(), abs=1e-9)
    assert meta["cv"]["splitter"] == "GroupKFold" and meta["cv"]["scoring"] == (
        "average_precision")
    assert "patient" not in [f["name"] for f in meta["features"]]


@pytest.mark.parametrize(("cv", "splitter"), [
    ("{type: time_series, folds: 3}", ms.TimeSeriesSplit(3)),
    ("{type: stratified_group, folds: 3, groups: patient}",
     ms.StratifiedGroupKFold(3, shuffle=True, random_state=0)),
])
def test_other_splitters(project: Path, mlpipe: Invoke, cv: str, splitter: object) -> None:
    frame = _cancer(project)
    meta = _train(project, mlpipe, f"    cv: {cv}\n")
    grouped = "groups" in cv
    x = frame[["a", "b", "c", "d", "e"]] if grouped else frame.drop(columns="target")
    scores = ms.cross_val_score(_plain(), x, frame["target"], cv=splitter,
                                groups=frame["patient"] if grouped else None)
    assert meta["cv"]["mean"] == pytest.approx(scores.mean(), abs=1e-9)


def test_search_optimises_the_declared_scoring(project: Path, mlpipe: Invoke) -> None:
    frame = _cancer(project)
    meta = _train(project, mlpipe, "    search: {params: {C: [0.001, 0.1, 10.0]}, cv: 3, "
                                   "scoring: balanced_accuracy}\n")
    search = ms.GridSearchCV(_plain(), {"logisticregression__C": [0.001, 0.1, 10.0]}, cv=3,
                             scoring="balanced_accuracy")
    search.fit(frame.drop(columns="target"), frame["target"])
    assert meta["search"]["best_score"] == pytest.approx(search.best_score_, abs=1e-9)
    assert meta["search"]["best_params"] == {"C": search.best_params_["logisticregression__C"]}


def test_a_metric_of_the_teams_own_by_import_path(project: Path, mlpipe: Invoke) -> None:
    _cancer(project)
    write_tree(project, {"mymetrics.py": """\
        def missed(y_true, y_pred):
            return float(((y_true == 1) & (y_pred == 0)).sum())
        """})
    meta = _train(project, mlpipe, "    cv: 3\n    scoring: {function: mymetrics.missed, "
                                   "greater_is_better: false}\n")
    assert meta["cv"]["mean"] < 0  # a loss: scikit-learn negates it so that higher is better
    assert "mymetrics.py" in (project / "mlpipe.lock").read_text()


@pytest.mark.parametrize(("fields", "message"), [
    ("    cv: {type: group, folds: 3}\n", "'cv': type group needs 'groups' (a column)"),
    ("    cv: {type: shuffle}\n", "'cv' must be a number of folds (at least 2) or {type:"),
    ("    scoring: accuracyy\n", "unknown scorer 'accuracyy' (did you mean 'accuracy'?)"),
    ("    scoring: {function: 3}\n", "'scoring' is a scorer name"),
    ("    search: {params: {C: [1]}, scoring: pr_auc}\n", "'search.scoring': unknown scorer"),
])
def test_bad_values_are_one_line_from_check(project: Path, mlpipe: Invoke, fields: str,
                                            message: str) -> None:
    write_tree(project, {"data/train.parquet": "", "mlpipe.yaml": (
        "stages:\n  train:\n    kind: train\n    data: data/train.parquet\n"
        "    target: target\n    estimator: logistic_regression\n" + fields)})
    result = mlpipe("check")
    assert result.exit_code == 2 and message in result.output, result.output

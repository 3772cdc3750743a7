"""ingest -> train -> evaluate through `mlpipe run`, against plain scikit-learn."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from conftest import Invoke, statuses, write_tree
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

IRIS = """\
    params:
      model: {C: 1.0}
      gate: 0.8
    stages:
      ingest:
        kind: ingest
        dataset: iris
        target: species
        test_size: 0.3
        seed: 7
      train:
        kind: train
        data: ingest.train
        schema: ingest.schema
        estimator: logistic_regression
        hyperparams: {C: "${params.model.C}", max_iter: 500}
      evaluate:
        kind: evaluate
        model: train.model
        data: ingest.test
        schema: ingest.schema
        gates: ["accuracy >= ${params.gate}"]
"""


def _json(root: Path, path: str) -> dict:
    return json.loads((root / path).read_text())


def _iris_frame() -> pd.DataFrame:
    frame = load_iris(as_frame=True).frame.rename(columns={"target": "species"})
    frame.columns = [c.replace(" (cm)", "").replace(" ", "_") for c in frame.columns]
    return frame


def test_metrics_equal_a_plain_scikit_learn_script(project: Path, mlpipe: Invoke) -> None:
    write_tree(project, {"mlpipe.yaml": IRIS})
    result = mlpipe("run", "--json")
    assert statuses(result) == {"ingest": "ran", "train": "ran", "evaluate": "ran"}

    frame = _iris_frame()
    train, test = train_test_split(frame, test_size=0.3, random_state=7,
                                   stratify=frame["species"])
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=500,
                                                               random_state=0))
    model.fit(train.drop(columns="species"), train["species"])
    predicted = model.predict(test.drop(columns="species"))
    metrics = _json(project, "out/evaluate/metrics.json")
    assert metrics["accuracy"] == pytest.approx(accuracy_score(test["species"], predicted))
    assert metrics["f1_macro"] == pytest.approx(f1_score(test["species"], predicted,
                                                         average="macro"))
    assert set(metrics) == {"accuracy", "precision_macro", "recall_macro", "f1_macro",
                            "roc_auc", "log_loss", "balanced_accuracy", "mcc",
                            "average_precision"}


def test_outputs_follow_their_contracts(project: Path, mlpipe: Invoke) -> None:
    write_tree(project, {"mlpipe.yaml": IRIS})
    assert mlpipe("run").exit_code == 0
    schema = _json(project, "out/ingest/schema.json")
    assert schema["rows"] == 150 and schema["target"] == "species"
    assert schema["task"] == "classification"
    assert {"name": "petal_length", "dtype": "float64"} in schema["columns"]
    test = pd.read_parquet(project / "out/ingest/test.parquet")
    assert len(test) == 45 and test["species"].value_counts().tolist() == [15, 15, 15]

    meta = _json(project, "out/train/model_meta.json")
    assert meta["estimator"] == "sklearn.linear_model.LogisticRegression"
    assert meta["classes"] == [0, 1, 2] and meta["target"] == "species"
    assert [f["name"] for f in meta["features"]] == [
        "sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert meta["params"] == {"C": 1.0, "max_iter": 500} and meta["seed"] == 0
    assert len(meta["training_data_hash"]) == 32
    assert set(meta["library_versions"]) >= {"scikit-learn", "pandas", "python"}

    report = _json(project, "out/evaluate/report.json")
    assert report["gates_passed"] is True
    assert report["gates"][0]["metric"] == "accuracy" and report["gates"][0]["threshold"] == 0.8
    assert sorted(p.name for p in (project / "out/evaluate/plots").iterdir()) == [
        "confusion_matrix.png", "feature_importance.png", "pr_curve.png", "roc_curve.png"]


def test_a_gate_edit_reruns_evaluate_only_and_a_param_edit_reruns_train(
        project: Path, mlpipe: Invoke) -> None:
    write_tree(project, {"mlpipe.yaml": IRIS})
    assert mlpipe("run").exit_code == 0
    gate = mlpipe("run", "--json", "-S", "gate=0.5")
    assert statuses(gate) == {"ingest": "cached", "train": "cached", "evaluate": "ran"}
    param = mlpipe("run", "--json", "-S", "model.C=0.3")
    assert statuses(param) == {"ingest": "cached", "train": "ran", "evaluate": "ran"}


def test_a_failed_gate_stops_the_pipeline_with_metric_value_and_threshold(
        project: Path, mlpipe: Invoke) -> None:
    write_tree(project, {"mlpipe.yaml": IRIS + """\
      after:
        kind: command
        cmd: echo never
        deps: [out/evaluate/metrics.json]
    """})
    result = mlpipe("run", "--json", "-S", "gate=0.999")
    assert result.exit_code == 1
    assert statuses(result)["evaluate"] == "failed" and statuses(result)["after"] == "skipped"
    reason = next(s["reason"] for s in json.loads(result.stdout)["stages"]
                  if s["name"] == "evaluate")
    assert reason.startswith("gate failed: accuracy 0.9")
    assert reason.endswith(">= 0.999 (baseline: none)")
    report = _json(project, "out/evaluate/report.json")
    assert report["gates_passed"] is False and report["gates"][0]["passed"] is False


def test_regression_from_csv_with_categoricals_slices_cv_and_search(
        project: Path, mlpipe: Invoke) -> None:
    rows = ["size,city,price"] + [f"{i},{'ab'[i % 2]},{3 * i + (10 if i % 2 else 0)}"
                                  for i in range(60)]
    write_tree(project, {"data/houses.csv": "\n".join(rows) + "\n", "mlpipe.yaml": """\
        stages:
          ingest: {kind: ingest, path: data/houses.csv, target: price, task: regression}
          train:
            kind: train
            data: ingest.train
            schema: ingest.schema
            estimator: sklearn.linear_model.Ridge
            preprocessing: {scale: minmax}
            cv: 3
            search: {type: grid, params: {alpha: [0.01, 10.0]}, cv: 3}
          evaluate:
            kind: evaluate
            model: train.model
            data: ingest.test
            schema: ingest.schema
            slices: [city]
            gates: ["r2 >= 0.9", "rmse < 10"]
    """})
    result = mlpipe("run")
    assert result.exit_code == 0, result.stdout
    meta = _json(project, "out/train/model_meta.json")
    assert meta["task"] == "regression" and meta["classes"] is None
    assert meta["search"]["best_params"] == {"alpha": 0.01}
    assert meta["cv"]["folds"] == 3 and meta["cv"]["mean"] > 0.9
    report = _json(project, "out/evaluate/report.json")
    assert set(report["metrics"]) == {"rmse", "mae", "mape", "r2"}
    assert set(report["slices"]["city"]) == {"a", "b"}
    assert sum(s["rows"] for s in report["slices"]["city"].values()) == 12
    assert {p.name for p in (project / "out/evaluate/plots").iterdir()} == {
        "residuals.png", "feature_importance.png"}


def test_sql_and_time_split(project: Path, mlpipe: Invoke) -> None:
    (project / "data").mkdir()
    with sqlite3.connect(project / "data/events.db") as db:
        db.execute("create table events (day integer, x real, label text)")
        db.executemany("insert into events values (?, ?, ?)",
                       [(d, d * 0.5, "hi" if d % 3 else "lo") for d in range(50, 0, -1)])
    write_tree(project, {"mlpipe.yaml": """\
        stages:
          ingest:
            kind: ingest
            sql: {url: "sqlite:///data/events.db", query: "select * from events"}
            database: data/events.db
            target: label
            time_column: day
            test_size: 0.2
    """})
    assert mlpipe("run").exit_code == 0
    test = pd.read_parquet(project / "out/ingest/test.parquet")
    train = pd.read_parquet(project / "out/ingest/train.parquet")
    assert sorted(test["day"]) == list(range(41, 51)) and train["day"].max() == 40
    with sqlite3.connect(project / "data/events.db") as db:
        db.execute("insert into events values (51, 1.0, 'hi')")
    assert statuses(mlpipe("run", "--json")) == {"ingest": "ran"}  # the database is a dep


@pytest.mark.parametrize(("stage", "message"), [
    ("kind: ingest\n    dataset: irs", "unknown dataset 'irs' (did you mean 'iris'?)"),
    ("kind: ingest\n    dataset: iris\n    path: x.csv",
     "give exactly one source: 'path', 'sql' or 'dataset' (found path, dataset)"),
    ("kind: ingest\n    path: x.csv", "'target' (the column to predict) is required"),
    ("kind: train\n    data: x.parquet\n    estimator: random_forrest",
     "unknown estimator 'random_forrest' (did you mean 'random_forest'?)"),
    ("kind: evaluate\n    model: m\n    data: d\n    gates: ['accuracy >> 1']",
     "cannot read gate 'accuracy >> 1'"),
])
def test_bad_config_is_a_load_error_with_line(project: Path, mlpipe: Invoke, stage: str,
                                              message: str) -> None:
    write_tree(project, {"mlpipe.yaml": f"stages:\n  s:\n    {stage}\n", "x.csv": "a\n1\n",
                         "x.parquet": "", "m": "", "d": ""})
    result = mlpipe("check")
    assert result.exit_code == 2
    assert result.stderr.startswith("mlpipe: error: ") and "mlpipe.yaml:" in result.stderr
    assert message in result.stderr


@pytest.mark.parametrize(("csv", "message"), [
    ("", "no rows"),
    ("a;b;label\n1;2;x\n", "no target column 'label'"),
    ("a,b\n1,2\n", "no target column 'label'"),
])
def test_bad_data_fails_ingest_naming_the_file(project: Path, mlpipe: Invoke, csv: str,
                                               message: str) -> None:
    write_tree(project, {"d.csv": csv, "mlpipe.yaml": """\
        stages:
          ingest: {kind: ingest, path: d.csv, target: label}
    """})
    result = mlpipe("run", "--json")
    assert result.exit_code == 1
    reason = json.loads(result.stdout)["stages"][0]["reason"]
    assert "d.csv" in reason and (message in reason or "cannot read" in reason)
    assert not (project / "out/ingest/train.parquet").exists()


@pytest.mark.parametrize("example", ["iris", "diabetes"])
def test_the_examples_run_end_to_end(example: str, tmp_path: Path, mlpipe: Invoke,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    source = Path(__file__).resolve().parents[2] / "examples/pipelines" / example
    root = tmp_path / example
    shutil.copytree(source, root, ignore=shutil.ignore_patterns("out", ".mlpipe", "*.lock"))
    monkeypatch.chdir(root)
    first = mlpipe("run", "--json")
    assert first.exit_code == 0, first.stdout
    assert set(statuses(first).values()) == {"ran"}
    assert set(statuses(mlpipe("run", "--json")).values()) == {"cached"}
    metrics = _json(root, "out/evaluate/metrics.json")
    assert ("accuracy" if example == "iris" else "r2") in metrics

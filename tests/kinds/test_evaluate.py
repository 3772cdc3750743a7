"""The evaluate kind: metrics against plain scikit-learn, slices, plots, gates and baselines."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import pandas as pd
import pytest
from conftest import Invoke, git_commit, git_init, statuses, write_tree
from sklearn import metrics as m
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler, label_binarize

from mlpipe.ml import gates

PNG = b"\x89PNG\r\n\x1a\n"
IRIS = """\
    params:
      gate: 0.8
    stages:
      train:
        kind: train
        data: data/train.parquet
        target: species
        estimator: logistic_regression
        hyperparams: {C: 0.5, max_iter: 300}
        seed: 5
      evaluate:
        kind: evaluate
        model: train.model
        data: data/test.parquet
        target: species
        slices: [petal_band]
        gates: ["accuracy >= ${params.gate}", "f1_macro >= 0.5"]
      after:
        kind: command
        cmd: echo done > after.txt
        deps: [out/evaluate/metrics.json]
        outs: [after.txt]
"""


def write_split(root: Path, frame: pd.DataFrame, target: str, stratify: bool = True
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """data/train.parquet and data/test.parquet: a fixed 70/30 split."""
    train, test = train_test_split(frame, test_size=0.3, random_state=0,
                                   stratify=frame[target] if stratify else None)
    (root / "data").mkdir(exist_ok=True)
    train.to_parquet(root / "data/train.parquet", index=False)
    test.to_parquet(root / "data/test.parquet", index=False)
    return train, test


def iris_frame() -> pd.DataFrame:
    """Iris with a text column to slice by (a feature, so it is one-hot encoded)."""
    frame = load_iris(as_frame=True).frame.rename(columns={"target": "species"})
    frame.columns = [c.replace(" (cm)", "").replace(" ", "_") for c in frame.columns]
    frame["petal_band"] = pd.cut(frame["petal_width"], [0, 0.8, 1.7, 3],
                                 labels=["narrow", "mid", "wide"]).astype(str)
    return frame


def read(root: Path, path: str) -> dict:
    return json.loads((root / path).read_text())


def reason_of(result: object, stage: str) -> str:
    return next(s["reason"] for s in json.loads(result.stdout)["stages"] if s["name"] == stage)


def test_iris_metrics_slices_and_plots_equal_plain_scikit_learn(project: Path,
                                                                mlpipe: Invoke) -> None:
    from sklearn.compose import make_column_transformer
    from sklearn.preprocessing import OneHotEncoder

    train, test = write_split(project, iris_frame(), "species")
    write_tree(project, {"mlpipe.yaml": IRIS})
    result = mlpipe("run", "--json")
    assert statuses(result) == {"train": "ran", "evaluate": "ran", "after": "ran"}

    numeric = [c for c in train.columns if c not in ("species", "petal_band")]
    plain = make_pipeline(
        make_column_transformer((StandardScaler(), numeric),
                                (OneHotEncoder(handle_unknown="ignore"), ["petal_band"])),
        LogisticRegression(C=0.5, max_iter=300, random_state=5))
    plain.fit(train.drop(columns="species"), train["species"])
    x, y = test.drop(columns="species"), test["species"]
    predicted, proba = plain.predict(x), plain.predict_proba(x)
    expected = {
        "accuracy": m.accuracy_score(y, predicted),
        "precision_macro": m.precision_score(y, predicted, average="macro"),
        "recall_macro": m.recall_score(y, predicted, average="macro"),
        "f1_macro": m.f1_score(y, predicted, average="macro"),
        "roc_auc": m.roc_auc_score(y, proba, multi_class="ovr"),
        "log_loss": m.log_loss(y, proba),
        "balanced_accuracy": m.balanced_accuracy_score(y, predicted),
        "mcc": m.matthews_corrcoef(y, predicted),
        "average_precision": m.average_precision_score(
            label_binarize(y, classes=plain.classes_), proba, average="macro"),
    }
    metrics = read(project, "out/evaluate/metrics.json")
    assert metrics == pytest.approx(expected)

    report = read(project, "out/evaluate/report.json")
    assert report["metrics"] == metrics and report["gates_passed"] is True
    assert [g["passed"] for g in report["gates"]] == [True, True]
    slices = report["slices"]["petal_band"]
    assert set(slices) == set(test["petal_band"])
    for band, part in test.groupby("petal_band"):
        assert slices[band]["rows"] == len(part)
        assert slices[band]["accuracy"] == pytest.approx(m.accuracy_score(
            part["species"], plain.predict(part.drop(columns="species"))))
    plots = {p.name: p.read_bytes()[:8] for p in (project / "out/evaluate/plots").iterdir()}
    assert plots == dict.fromkeys(["confusion_matrix.png", "roc_curve.png", "pr_curve.png",
                                   "feature_importance.png"], PNG)


def test_diabetes_regression_metrics_equal_plain_scikit_learn(project: Path,
                                                              mlpipe: Invoke) -> None:
    train, test = write_split(project, load_diabetes(as_frame=True).frame, "target",
                              stratify=False)
    write_tree(project, {"mlpipe.yaml": """\
        stages:
          train: {kind: train, data: data/train.parquet, target: target, estimator: ridge,
                  hyperparams: {alpha: 0.3}}
          evaluate: {kind: evaluate, model: train.model, data: data/test.parquet,
                     target: target, gates: ["r2 >= 0.3", "rmse < 70"]}
    """})
    result = mlpipe("run", "--json")
    assert statuses(result) == {"train": "ran", "evaluate": "ran"}, result.stdout
    plain = make_pipeline(StandardScaler(), Ridge(alpha=0.3, random_state=0))
    plain.fit(train.drop(columns="target"), train["target"])
    predicted = plain.predict(test.drop(columns="target"))
    y = test["target"]
    assert read(project, "out/evaluate/metrics.json") == pytest.approx({
        "rmse": m.mean_squared_error(y, predicted) ** 0.5,
        "mae": m.mean_absolute_error(y, predicted), "r2": m.r2_score(y, predicted),
        "mape": m.mean_absolute_percentage_error(y, predicted)})
    assert {p.name for p in (project / "out/evaluate/plots").iterdir()} == {
        "residuals.png", "feature_importance.png"}


def test_binary_roc_auc_uses_the_positive_class(project: Path, mlpipe: Invoke) -> None:
    frame = load_breast_cancer(as_frame=True).frame.iloc[:, [0, 1, 2, 3, -1]]
    _, test = write_split(project, frame, "target")
    write_tree(project, {"mlpipe.yaml": """\
        stages:
          train: {kind: train, data: data/train.parquet, target: target,
                  estimator: logistic_regression}
          evaluate: {kind: evaluate, model: train.model, data: data/test.parquet,
                     target: target, plots: false}
    """})
    assert mlpipe("run").exit_code == 0
    model = joblib.load(project / "out/train/model.joblib")
    proba = model.predict_proba(test.drop(columns="target"))[:, 1]
    metrics = read(project, "out/evaluate/metrics.json")
    assert metrics["roc_auc"] == pytest.approx(m.roc_auc_score(test["target"], proba))
    assert list((project / "out/evaluate/plots").iterdir()) == []  # plots: false


def test_a_gate_edit_reruns_evaluate_and_what_follows_not_train(project: Path,
                                                                mlpipe: Invoke) -> None:
    write_split(project, iris_frame(), "species")
    write_tree(project, {"mlpipe.yaml": IRIS})
    assert mlpipe("run").exit_code == 0
    edited = mlpipe("run", "--json", "-S", "gate=0.7")
    assert statuses(edited) == {"train": "cached", "evaluate": "ran", "after": "cached"}
    text = (project / "mlpipe.yaml").read_text().replace('"f1_macro >= 0.5"',
                                                         '"f1_macro >= 0.6"')
    (project / "mlpipe.yaml").write_text(text)
    assert statuses(mlpipe("run", "--json")) == {"train": "cached", "evaluate": "ran",
                                                 "after": "cached"}


def test_a_failed_gate_writes_the_report_fails_and_skips_dependents(project: Path,
                                                                    mlpipe: Invoke) -> None:
    write_split(project, iris_frame(), "species")
    write_tree(project, {"mlpipe.yaml": IRIS})
    result = mlpipe("run", "--json", "-S", "gate=0.999")
    assert result.exit_code == 1
    assert statuses(result) == {"train": "ran", "evaluate": "failed", "after": "skipped"}
    accuracy = read(project, "out/evaluate/metrics.json")["accuracy"]
    assert reason_of(result, "evaluate") == (f"gate failed: accuracy {accuracy:.4g} >= 0.999 "
                                             "(baseline: none)")
    report = read(project, "out/evaluate/report.json")
    assert report["gates_passed"] is False
    assert report["gates"][0] == {
        "gate": "accuracy >= 0.999", "metric": "accuracy", "value": accuracy,
        "threshold": 0.999, "baseline": None, "passed": False,
        "message": reason_of(result, "evaluate")}
    assert report["gates"][1]["passed"] is True
    assert not (project / "after.txt").exists()


@pytest.mark.parametrize(("field", "message"), [
    ("gates: ['accuracy >> 1']", "cannot read gate 'accuracy >> 1'"),
    ("gates: [\"__import__('os').system('x') > 1\"]", "cannot read gate"),
    ("gates: 'accuracy > 1'", "'gates' must be a list"),
    ("baseline: {model: iris, rev: main}", "'baseline' needs either 'model'"),
    ("baseline: {rev: main}", "'baseline' needs either 'model'"),
    ("baseline: {model: 'bad name'}", "baseline model 'bad name'"),
    ("slices: species", "'slices' must be a list of column names"),
])
def test_bad_config_is_a_load_error(project: Path, mlpipe: Invoke, field: str,
                                    message: str) -> None:
    write_tree(project, {"mlpipe.yaml": "stages:\n  evaluate:\n    kind: evaluate\n"
                                        f"    model: m.joblib\n    data: d.parquet\n"
                                        f"    {field}\n"})
    result = mlpipe("run")
    assert result.exit_code == 2
    assert "mlpipe.yaml:" in result.stderr and "stage 'evaluate'" in result.stderr
    assert message in result.stderr


class FakeRegistry:
    """Stands in for mlpipe.models.registry.Registry: one champion with known metrics."""

    champions: dict[str, dict] = {}

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def get(self, ref: str) -> object:
        from mlpipe.models.registry import RegistryError

        if ref not in self.champions:
            raise RegistryError(f"no model '{ref}'")
        return type("Version", (), {"metrics": self.champions[ref]})()


BASELINE = """\
    stages:
      train: {kind: train, data: data/train.parquet, target: species,
              estimator: logistic_regression, hyperparams: {max_iter: 300}}
      evaluate:
        kind: evaluate
        model: train.model
        data: data/test.parquet
        target: species
        plots: false
        baseline: {model: iris}
        gates: ["accuracy >= baseline.accuracy - 0.05"]
"""


def test_registry_baseline_gates(project: Path, mlpipe: Invoke,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from mlpipe.models import registry

    monkeypatch.setattr(registry, "Registry", FakeRegistry)
    write_split(project, iris_frame().drop(columns="petal_band"), "species")
    write_tree(project, {"mlpipe.yaml": BASELINE})
    first = mlpipe("run", "--json")
    assert statuses(first) == {"train": "ran", "evaluate": "ran"}
    report = read(project, "out/evaluate/report.json")
    assert report["baseline"] == {"source": "iris@champion", "metrics": None,
                                  "note": "no baseline"}
    assert report["gates"][0]["passed"] is True and "(no baseline)" in report["gates"][0][
        "message"]

    monkeypatch.setattr(FakeRegistry, "champions", {"iris@champion": {"accuracy": 1.5}})
    second = mlpipe("run", "--json")  # always runs: the champion is not a file dep
    assert statuses(second) == {"train": "cached", "evaluate": "failed"}
    accuracy = read(project, "out/evaluate/metrics.json")["accuracy"]
    assert reason_of(second, "evaluate") == (f"gate failed: accuracy {accuracy:.4g} >= 1.45 "
                                             "(baseline: 1.5)")
    gate = read(project, "out/evaluate/report.json")["gates"][0]
    assert gate["baseline"] == 1.5 and gate["threshold"] == pytest.approx(1.45)

    monkeypatch.setattr(FakeRegistry, "champions", {"iris@champion": {"accuracy": 0.5}})
    assert statuses(mlpipe("run", "--json"))["evaluate"] == "ran"


def test_baseline_from_the_real_registry(project: Path, mlpipe: Invoke) -> None:
    from mlpipe.models.registry import Registry

    write_split(project, iris_frame().drop(columns="petal_band"), "species")
    write_tree(project, {"mlpipe.yaml": BASELINE.replace(
        "baseline.accuracy - 0.05", "baseline.accuracy + 0.01"), "champion.bin": "model"})
    registry = Registry(project / ".mlpipe")
    version = registry.register("iris", project / "champion.bin", {}, {"accuracy": 0.99}, {})
    registry.set_alias("iris", "champion", version.version)
    result = mlpipe("run", "--json")
    assert statuses(result)["evaluate"] == "failed"
    assert reason_of(result, "evaluate").endswith(">= 1 (baseline: 0.99)")
    assert read(project, "out/evaluate/report.json")["baseline"]["metrics"] == {
        "accuracy": 0.99}


def test_baseline_from_a_metrics_file_at_a_git_rev(project: Path, mlpipe: Invoke) -> None:
    git_init(project)
    write_split(project, iris_frame().drop(columns="petal_band"), "species")
    write_tree(project, {"base/metrics.json": json.dumps({"f1_macro": 0.5}),
                         "mlpipe.yaml": BASELINE.replace(
                             "{model: iris}", "{rev: main, metrics: base/metrics.json}").replace(
                             "accuracy >= baseline.accuracy - 0.05",
                             "f1_macro > baseline.f1_macro + 0.25")})
    git_commit(project, "baseline 0.5")
    (project / "base/metrics.json").write_text(json.dumps({"f1_macro": 0.99}))  # uncommitted
    result = mlpipe("run", "--json")
    assert statuses(result)["evaluate"] == "ran", result.stdout
    report = read(project, "out/evaluate/report.json")
    assert report["baseline"]["metrics"] == {"f1_macro": 0.5}
    assert report["gates"][0]["threshold"] == pytest.approx(0.75)
    assert report["baseline"]["source"] == "main:base/metrics.json"


def test_missing_columns_and_bad_models_fail_with_a_reason(project: Path,
                                                           mlpipe: Invoke) -> None:
    _, test = write_split(project, iris_frame().drop(columns="petal_band"), "species")
    test.drop(columns="sepal_width").to_parquet(project / "data/narrow.parquet")
    write_tree(project, {"not_a_model.joblib": "junk", "mlpipe.yaml": """\
        stages:
          train: {kind: train, data: data/train.parquet, target: species, estimator: knn}
          narrow: {kind: evaluate, model: train.model, data: data/narrow.parquet,
                   target: species}
          sliced: {kind: evaluate, model: train.model, data: data/test.parquet,
                   target: species, slices: [colour]}
          junk: {kind: evaluate, model: not_a_model.joblib, data: data/test.parquet,
                 target: species}
    """})
    result = mlpipe("run", "--json", "--keep-going")
    assert statuses(result) == {"train": "ran", "narrow": "failed", "sliced": "failed",
                                "junk": "failed"}
    assert "missing feature column(s) the model was trained on: sepal_width" in reason_of(
        result, "narrow")
    assert "slices: no column 'colour'" in reason_of(result, "sliced")
    assert "not_a_model.joblib: cannot load model" in reason_of(result, "junk")


def test_gate_parser_reads_only_comparisons() -> None:
    gate = gates.parse("f1_macro >= baseline.f1_macro - 0.01")
    assert (gate.metric, gate.op, gate.baseline_metric, gate.margin) == (
        "f1_macro", ">=", "f1_macro", -0.01)
    assert gates.parse("rmse<2.5e1").number == 25.0
    for text in ("accuracy >= 0.9 or True", "accuracy => 0.9", "len(x) > 1",
                 "accuracy >= baseline.accuracy * 2"):
        with pytest.raises(ValueError, match="cannot read gate"):
            gates.parse(text)
    metrics = {"accuracy": 0.81, "rmse": 3.0}
    assert gates.check(gates.parse("accuracy >= 0.9"), metrics, None)["message"] == (
        "gate failed: accuracy 0.81 >= 0.9 (baseline: none)")
    assert gates.check(gates.parse("rmse <= baseline.rmse + 0.5"), metrics,
                       {"rmse": 2.4})["message"] == "gate failed: rmse 3 <= 2.9 (baseline: 2.4)"
    assert gates.check(gates.parse("rmse == 3"), metrics, None)["passed"] is True
    missing = gates.check(gates.parse("r2 > 0"), metrics, None)
    assert missing["passed"] is False and "no metric 'r2'" in missing["message"]

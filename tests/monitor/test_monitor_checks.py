"""Monitor's comparisons: validate's drift tests, evaluate's metrics on replayed answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpipe.ml.drift import DEFAULT_THRESHOLDS, drift_checks
from mlpipe.ml.scoring import score
from mlpipe.monitor.checks import MetricCheck, compare, drift, drifted, live_metrics, replay


@pytest.fixture(scope="module")
def classifier() -> tuple[object, pd.DataFrame, pd.Series]:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=300).fit(x.iloc[::2], y.iloc[::2])
    return model, x.iloc[1::2].reset_index(drop=True), y.iloc[1::2].reset_index(drop=True)


def answers(model: object, x: pd.DataFrame) -> tuple[list, list]:
    """What the server logs: plain predictions and {class as text: probability} per row."""
    from mlpipe.serving.predict import predict

    result = predict(model, {"task": "classification"}, x)
    return result["predictions"], result["probabilities"]


def test_replayed_answers_score_exactly_like_evaluate_on_the_model(classifier: tuple) -> None:
    model, x, y = classifier
    predictions, probabilities = answers(model, x)
    replayed = replay(predictions, probabilities, [0, 1, 2])
    live = live_metrics(replayed, x, y, "classification")
    assert live == pytest.approx(score(model, x, y, "classification"))
    assert {"accuracy", "log_loss", "roc_auc"} <= set(live)


def test_without_every_probability_only_label_metrics_are_computed(classifier: tuple) -> None:
    model, x, y = classifier
    predictions, probabilities = answers(model, x)
    probabilities[3] = None
    live = live_metrics(replay(predictions, probabilities, [0, 1, 2]), x, y, "classification")
    assert "log_loss" not in live and "roc_auc" not in live
    assert live["accuracy"] == pytest.approx(score(model, x, y, "classification")["accuracy"])


def test_replayed_regression_scores_like_evaluate() -> None:
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80)})
    y = x["a"] * 3 - x["b"] + rng.normal(scale=0.3, size=80)
    model = Ridge().fit(x, y)
    replayed = replay(model.predict(x).tolist(), [None] * 80, None)
    assert live_metrics(replayed, x, y, "regression") == pytest.approx(
        score(model, x, y, "regression"))
    with pytest.raises(ValueError, match="only for the rows"):
        replayed.predict(x.iloc[:5])


def test_drift_is_validates_check_with_its_default_thresholds() -> None:
    rng = np.random.default_rng(1)
    training = pd.DataFrame({"income": rng.normal(50, 9, 600), "age": rng.integers(20, 70, 600),
                             "region": rng.choice(["n", "s"], 600), "target": 0})
    live = pd.DataFrame({"income": rng.normal(59, 9, 300), "age": rng.integers(20, 70, 300),
                         "region": rng.choice(["n", "s"], 300)})
    rows = drift(live, training)
    assert rows == drift_checks(live, training[["income", "age", "region"]], True)
    assert [(r["column"], r["check"]) for r in rows] == [
        ("income", "drift_ks"), ("age", "drift_ks"), ("region", "drift_chi2")]
    assert {r["threshold"] for r in rows} == {DEFAULT_THRESHOLDS["ks"],
                                              DEFAULT_THRESHOLDS["chi2"]}
    assert drifted(rows) == ["income"]


def test_scores_degrade_in_absolute_terms_errors_relatively() -> None:
    recorded = {"accuracy": 0.90, "f1_macro": 0.88, "rmse": 10.0, "log_loss": 0.5, "note": "x"}
    live = {"accuracy": 0.84, "f1_macro": 0.86, "rmse": 10.4, "log_loss": 0.6, "r2": 0.3}
    checks = {c.name: c for c in compare(live, recorded, 0.05, ["accuracy", "rmse", "f1_macro"])}
    assert set(checks) == {"accuracy", "f1_macro", "rmse", "log_loss"}
    assert checks["accuracy"].worse_by == pytest.approx(0.06) and checks["accuracy"].degraded
    assert checks["f1_macro"].passed and not checks["f1_macro"].degraded
    assert checks["rmse"].relative and checks["rmse"].worse_by == pytest.approx(0.04)
    assert not checks["rmse"].degraded
    assert checks["log_loss"].worse_by == pytest.approx(0.2) and not checks["log_loss"].passed
    assert not checks["log_loss"].judged and not checks["log_loss"].degraded
    better = compare({"accuracy": 0.95}, recorded, 0.0, ["accuracy"])
    assert better == [MetricCheck("accuracy", 0.95, 0.90, pytest.approx(-0.05), 0.0, True)]

"""The comparisons behind `mlpipe monitor`: drift of the live inputs, and live metrics.

Drift uses validate's tests with validate's default thresholds (`mlpipe.ml.drift`: KS for
numeric columns, chi-square for the others, p < 0.05 fails). Live metrics are computed by
evaluate's own metric code (`mlpipe.ml.scoring.score`) on the answers the server logged:
`Replay` hands that code the logged predictions and probabilities as a model would, so what is
scored is exactly what was served, and no model file is unpickled.

Every live metric with a recorded (evaluation) value is shown against it; the judged ones
(by default the task's primary metric: accuracy, or RMSE for regression) are degraded when
worse than recorded by more than `max_drop`: in absolute terms for scores where higher is
better (accuracy, F1, ROC AUC, R², ...), relative to the recorded value for errors where lower
is better (RMSE, MAE, log loss), whose scale depends on the data. One metric by default,
because the recorded values come from a test split of often a few hundred rows: their noise
alone would move some of six metrics past a small threshold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

LOWER_IS_BETTER = frozenset({"rmse", "mae", "log_loss"})
PRIMARY = {"classification": "accuracy", "regression": "rmse"}
DEFAULT_MAX_DROP = 0.05


@dataclass(frozen=True)
class MetricCheck:
    """One live metric against its recorded value.

    Attributes:
        name: The metric.
        live: Its value on the labelled live records.
        recorded: Its value when the version was registered (evaluation).
        worse_by: How much worse live is: recorded - live for scores, (live - recorded) /
            recorded for errors (negative when live is better).
        limit: The allowed worsening (`max_drop`).
        passed: worse_by <= limit.
        judged: Whether this metric decides degradation (else it is shown only).
    """

    name: str
    live: float
    recorded: float
    worse_by: float
    limit: float
    passed: bool
    judged: bool = True

    @property
    def degraded(self) -> bool:
        return self.judged and not self.passed

    @property
    def relative(self) -> bool:
        """Whether `worse_by` is a fraction of the recorded value (an error metric)."""
        return self.name in LOWER_IS_BETTER


def drift(live: pd.DataFrame, training: pd.DataFrame) -> list[dict[str, Any]]:
    """validate's drift check of every live input column against the training data.

    Args:
        live: The logged input records (the model's feature columns).
        training: The table the model was trained on.

    Returns:
        Report rows as validate writes them (check, column, observed, threshold, passed,
        message).
    """
    from mlpipe.ml.drift import drift_checks

    shared = [c for c in live.columns if c in training.columns]
    return drift_checks(live[shared], training[shared], True)


def drifted(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The columns whose drift check failed."""
    return [str(row["column"]) for row in rows if not row["passed"]]


class Replay:
    """The logged answers, replayed to evaluate's metric code as a fitted model would give them.

    `predict` returns the logged predictions whatever rows it is asked about, so it must be
    called with the rows they belong to, in order (`live_metrics` does).
    """

    def __init__(self, predictions: np.ndarray, classes: np.ndarray | None = None) -> None:
        self.predictions = predictions
        self.classes_ = classes

    def predict(self, features: Any) -> np.ndarray:
        if len(features) != len(self.predictions):
            raise ValueError("Replay answers only for the rows it was logged for")
        return self.predictions


class ReplayWithProbabilities(Replay):
    """A replayed classifier that also logged its class probabilities."""

    def __init__(self, predictions: np.ndarray, classes: np.ndarray,
                 probabilities: np.ndarray) -> None:
        super().__init__(predictions, classes)
        self.probabilities = probabilities

    def predict_proba(self, features: Any) -> np.ndarray:
        if len(features) != len(self.probabilities):
            raise ValueError("Replay answers only for the rows it was logged for")
        return self.probabilities


def replay(predictions: Sequence[Any], probabilities: Sequence[Mapping[str, Any] | None],
           classes: Sequence[Any] | None) -> Replay:
    """A Replay of logged answers; with probabilities only when every row has one per class.

    Args:
        predictions: The logged predictions, one per row.
        probabilities: The logged {class as text: probability} per row (None when absent).
        classes: The model's classes (None for a regressor).
    """
    import numpy as np

    answered = np.asarray(list(predictions))
    if not classes:
        return Replay(answered)
    labels = np.asarray(list(classes))
    keys = [str(c) for c in classes]
    complete = all(isinstance(p, Mapping) and all(isinstance(p.get(k), int | float)
                                                  for k in keys) for p in probabilities)
    if not complete or not probabilities:
        return Replay(answered, labels)
    matrix = np.asarray([[float(p[k]) for k in keys] for p in probabilities if p is not None])
    return ReplayWithProbabilities(answered, labels, matrix)


def live_metrics(model: Replay, features: pd.DataFrame, y: pd.Series, task: str
                 ) -> dict[str, float]:
    """evaluate's metrics of the replayed answers against the labels.

    Args:
        model: The replayed answers for exactly these rows.
        features: The rows' inputs.
        y: Their labels.
        task: "classification" or "regression".

    Returns:
        {metric: value}, as evaluate computes them.
    """
    from mlpipe.ml.scoring import score

    return score(model, features, y, task)


def compare(live: Mapping[str, float], recorded: Mapping[str, Any], max_drop: float,
            judged: Sequence[str]) -> list[MetricCheck]:
    """Each live metric that has a recorded value, against it.

    Args:
        live: Live metrics.
        recorded: The version's recorded metrics.
        max_drop: Allowed worsening (absolute for scores, relative for errors).
        judged: The metrics that decide degradation; the others are only shown.

    Returns:
        One check per metric, judged ones first, then by name.
    """
    checks = []
    for name in sorted(live, key=lambda n: (n not in judged, n)):
        value = recorded.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        base, now = float(value), float(live[name])
        if name in LOWER_IS_BETTER:
            worse = (now - base) / abs(base) if base else (0.0 if now == base else float("inf"))
        else:
            worse = base - now
        checks.append(MetricCheck(name, now, base, worse, max_drop, worse <= max_drop,
                                  name in judged))
    return checks

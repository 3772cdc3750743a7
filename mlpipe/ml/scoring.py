"""Task-appropriate metrics and plots of a fitted model on a labelled table."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Importance:
    """How permutation importance is computed: on at most `rows` rows, `repeats` times.

    The sample is drawn with a fixed seed, so the plot is the same on every run; its cost
    stays bounded however large the evaluation table is.
    """

    rows: int = 10_000
    repeats: int = 1


def importance_of(plots: Any) -> Importance | None:
    """The importance settings a `plots` field asks for (None: no importance plot).

    `plots: true` (the default) gives the bounded default; `plots: {importance: false}`
    turns it off; `plots: {importance: {rows: N, repeats: R}}` sets the bounds.
    """
    if not isinstance(plots, Mapping):
        return Importance() if plots else None
    value = plots.get("importance", {})
    if value is False:
        return None
    return Importance(**({} if value is True else dict(value)))


def check_plots(plots: Any) -> str | None:
    """A problem with a `plots` field, or None."""
    usage = ("'plots' is true, false, or {importance: false | {rows: N, repeats: R}} "
             "(permutation importance on at most N rows, R repeats; default 10000 and 1)")
    if isinstance(plots, bool):
        return None
    if not isinstance(plots, Mapping) or set(plots) - {"importance"}:
        return usage
    value = plots.get("importance", {})
    if isinstance(value, bool):
        return None
    if not isinstance(value, Mapping) or set(value) - {"rows", "repeats"} or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value.values()):
        return usage
    return None


def score(model: Any, features: Any, y: Any, task: str, light: bool = False) -> dict[str, float]:
    """Metrics of a fitted model on labelled data.

    Args:
        model: A fitted estimator or Pipeline.
        features: The feature table.
        y: The true targets.
        task: "classification" (accuracy, balanced accuracy, precision/recall/F1 macro,
            Matthews correlation; with probabilities ROC AUC, average precision (PR-AUC,
            macro over classes one-vs-rest), log loss) or "regression" (RMSE, MAE, MAPE, R²).
        light: Leave out the probability-based metrics (for small slices).

    Returns:
        {metric: value}, finite values only.
    """
    from sklearn import metrics as m

    predicted = model.predict(features)
    if task == "regression":
        found = {"rmse": math.sqrt(m.mean_squared_error(y, predicted)),
                 "mae": m.mean_absolute_error(y, predicted),
                 "mape": m.mean_absolute_percentage_error(y, predicted)}
        if len(y) > 1:
            found["r2"] = m.r2_score(y, predicted)
        return _finite(found)
    found = {
        "accuracy": m.accuracy_score(y, predicted),
        "precision_macro": m.precision_score(y, predicted, average="macro", zero_division=0),
        "recall_macro": m.recall_score(y, predicted, average="macro", zero_division=0),
        "f1_macro": m.f1_score(y, predicted, average="macro", zero_division=0),
        "balanced_accuracy": m.balanced_accuracy_score(y, predicted),
        "mcc": m.matthews_corrcoef(y, predicted),
    }
    if not light and hasattr(model, "predict_proba"):
        proba = model.predict_proba(features)
        classes = list(model.classes_)
        found["log_loss"] = m.log_loss(y, proba, labels=classes)
        if y.nunique() == len(classes) and len(classes) > 1:
            found["roc_auc"] = (m.roc_auc_score(y, proba[:, 1]) if len(classes) == 2 else
                                m.roc_auc_score(y, proba, multi_class="ovr", labels=classes))
            found["average_precision"] = (
                m.average_precision_score(y, proba[:, 1], pos_label=classes[1])
                if len(classes) == 2 else m.average_precision_score(
                    _one_hot(y, classes),
                    proba, average="macro"))
    return _finite(found)


def _one_hot(y: Any, classes: list[Any]) -> Any:
    """Rows of 0/1 per class, in `classes` order (for one-vs-rest metrics)."""
    import numpy as np

    return (np.asarray(y)[:, None] == np.asarray(classes)[None, :]).astype(int)


def _finite(found: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in found.items() if math.isfinite(float(v))}


def plot_all(model: Any, features: Any, y: Any, task: str, out: Path,
             importance: Importance | None = None) -> list[Path]:
    """Write the task's plots as PNGs into `out`.

    Args:
        model: A fitted estimator or Pipeline.
        features: The feature table.
        y: The true targets.
        task: "classification" (confusion matrix, ROC and PR curves per class) or
            "regression" (residuals).
        out: An existing directory.
        importance: Bounds of the permutation importance plot (None: no such plot).

    Returns:
        The files written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn import metrics as m
    from sklearn.inspection import permutation_importance

    written = []

    def save(fig: Any, name: str) -> None:
        path = out / name
        tmp = path.with_name(f".{name}.tmp.png")
        fig.tight_layout()
        fig.savefig(tmp, dpi=80)
        plt.close(fig)
        tmp.replace(path)
        written.append(path)

    if task == "regression":
        predicted = model.predict(features)
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.scatter(predicted, y - predicted, s=8)
        ax.axhline(0, color="grey", linewidth=1)
        ax.set(xlabel="predicted", ylabel="residual", title="Residuals")
        save(fig, "residuals.png")
    else:
        disp = m.ConfusionMatrixDisplay.from_estimator(model, features, y)
        save(disp.figure_, "confusion_matrix.png")
        if hasattr(model, "predict_proba") and y.nunique() == len(model.classes_):
            proba = model.predict_proba(features)
            for name, curve in (("roc_curve.png", m.RocCurveDisplay),
                                ("pr_curve.png", m.PrecisionRecallDisplay)):
                fig, ax = plt.subplots(figsize=(5, 4))
                for i, cls in enumerate(model.classes_):
                    curve.from_predictions(y == cls, proba[:, i], ax=ax, name=str(cls))
                save(fig, name)
    if importance is None:
        return written
    if len(features) > importance.rows:
        features = features.sample(importance.rows, random_state=0)
        y = y.loc[features.index]
    found = permutation_importance(model, features, y, n_repeats=importance.repeats,
                                   random_state=0)
    fig, ax = plt.subplots(figsize=(5, max(2.5, 0.3 * features.shape[1])))
    order = found.importances_mean.argsort()
    ax.barh([str(features.columns[i]) for i in order], found.importances_mean[order])
    ax.set(title="Permutation importance")
    save(fig, "feature_importance.png")
    return written

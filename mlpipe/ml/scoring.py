"""Task-appropriate metrics and plots of a fitted model on a labelled table."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any


def score(model: Any, features: Any, y: Any, task: str, light: bool = False) -> dict[str, float]:
    """Metrics of a fitted model on labelled data.

    Args:
        model: A fitted estimator or Pipeline.
        features: The feature table.
        y: The true targets.
        task: "classification" (accuracy, precision/recall/F1 macro, ROC AUC, log loss) or
            "regression" (RMSE, MAE, R²).
        light: Leave out the probability-based metrics (for small slices).

    Returns:
        {metric: value}, finite values only.
    """
    from sklearn import metrics as m

    predicted = model.predict(features)
    if task == "regression":
        found = {"rmse": math.sqrt(m.mean_squared_error(y, predicted)),
                 "mae": m.mean_absolute_error(y, predicted)}
        if len(y) > 1:
            found["r2"] = m.r2_score(y, predicted)
        return _finite(found)
    found = {
        "accuracy": m.accuracy_score(y, predicted),
        "precision_macro": m.precision_score(y, predicted, average="macro", zero_division=0),
        "recall_macro": m.recall_score(y, predicted, average="macro", zero_division=0),
        "f1_macro": m.f1_score(y, predicted, average="macro", zero_division=0),
    }
    if not light and hasattr(model, "predict_proba"):
        proba = model.predict_proba(features)
        classes = list(model.classes_)
        found["log_loss"] = m.log_loss(y, proba, labels=classes)
        if y.nunique() == len(classes) and len(classes) > 1:
            found["roc_auc"] = (m.roc_auc_score(y, proba[:, 1]) if len(classes) == 2 else
                                m.roc_auc_score(y, proba, multi_class="ovr", labels=classes))
    return _finite(found)


def _finite(found: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in found.items() if math.isfinite(float(v))}


def plot_all(model: Any, features: Any, y: Any, task: str, out: Path) -> list[Path]:
    """Write the task's plots as PNGs into `out`.

    Args:
        model: A fitted estimator or Pipeline.
        features: The feature table.
        y: The true targets.
        task: "classification" (confusion matrix, ROC and PR curves per class) or
            "regression" (residuals); both get permutation feature importance.
        out: An existing directory.

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
    importance = permutation_importance(model, features, y, n_repeats=3, random_state=0)
    fig, ax = plt.subplots(figsize=(5, max(2.5, 0.3 * features.shape[1])))
    order = importance.importances_mean.argsort()
    ax.barh([str(features.columns[i]) for i in order], importance.importances_mean[order])
    ax.set(title="Permutation importance")
    save(fig, "feature_importance.png")
    return written

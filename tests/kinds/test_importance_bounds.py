"""Permutation importance stays bounded: a seeded sample of rows, one repeat by default."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from conftest import Invoke, write_tree
from sklearn.linear_model import LogisticRegression

from mlpipe.ml.scoring import Importance, importance_of, plot_all


class Counting(LogisticRegression):
    """Records how many rows each predict call gets."""

    sizes: ClassVar[list[int]] = []

    def predict(self, X: Any) -> Any:
        Counting.sizes.append(len(X))
        return super().predict(X)


def _table(rows: int) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    features = pd.DataFrame(rng.normal(size=(rows, 3)), columns=["a", "b", "c"])
    return features, pd.Series((features["a"] + rng.normal(size=rows) > 0).astype(int))


@pytest.mark.parametrize(("importance", "calls"), [
    (Importance(), 4),  # the default: 10,000 rows at most, one repeat: baseline + 3 columns
    (Importance(rows=500, repeats=2), 7),
])
def test_importance_scores_a_bounded_sample(tmp_path: Path, importance: Importance,
                                            calls: int) -> None:
    features, y = _table(20_000)
    model = Counting().fit(features, y)
    Counting.sizes = []
    written = plot_all(model, features, y, "classification", tmp_path, importance)
    assert "feature_importance.png" in {p.name for p in written}
    assert Counting.sizes.count(min(importance.rows, 20_000)) == calls
    assert max(Counting.sizes) == 20_000  # the confusion matrix still sees every row


def test_importance_can_be_turned_off(tmp_path: Path) -> None:
    features, y = _table(200)
    written = plot_all(Counting().fit(features, y), features, y, "classification", tmp_path,
                       importance_of({"importance": False}))
    assert "feature_importance.png" not in {p.name for p in written}
    assert importance_of(True) == Importance(10_000, 1) and importance_of(False) is None
    assert importance_of({"importance": {"rows": 50}}) == Importance(50, 1)


@pytest.mark.parametrize("plots", ["{importance: {rows: 0}}", "{importance: {row: 5}}",
                                   "{importance: yes please}", "sometimes"])
def test_a_bad_plots_value_is_one_line_from_check(project: Path, mlpipe: Invoke,
                                                  plots: str) -> None:
    write_tree(project, {"m.joblib": "x", "d.csv": "a\n1\n", "mlpipe.yaml": (
        "stages:\n  ev:\n    kind: evaluate\n    model: m.joblib\n    data: d.csv\n"
        f"    target: a\n    plots: {plots}\n")})
    result = mlpipe("check")
    assert result.exit_code == 2 and "'plots' is true, false, or {importance" in result.output

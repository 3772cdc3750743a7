"""Drift and skew against a reference: the statistics, `mlpipe run`, and the drift example."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import Invoke, statuses, write_tree

from mlpipe.ml.drift import chi2_pvalue, ks_pvalue, psi

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "pipelines"


def test_psi_and_ks_separate_shifted_from_same_distribution() -> None:
    rng = np.random.default_rng(1)
    old = pd.Series(rng.normal(0, 1, 2000))
    same, shifted = pd.Series(rng.normal(0, 1, 2000)), pd.Series(rng.normal(0.8, 1, 2000))
    assert psi(same, old, numeric=True) < 0.05 < 0.2 < psi(shifted, old, numeric=True)
    assert ks_pvalue(same, old) > 0.05 > 1e-6 > ks_pvalue(shifted, old)
    colors = pd.Series(["r"] * 500 + ["g"] * 500)
    assert psi(colors, colors, numeric=False) == pytest.approx(0.0)
    assert psi(pd.Series(["r"] * 900 + ["g"] * 100), colors, numeric=False) > 0.2
    assert chi2_pvalue(pd.Series(["r"] * 900 + ["g"] * 100), colors) < 1e-6



def _batch(project: Path, name: str, color_p: float = 0.5, x_shift: float = 0.0,
           rows: int = 500, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    (project / "data").mkdir(exist_ok=True)
    pd.DataFrame({"x": rng.normal(x_shift, 1, rows),
                  "color": rng.choice(["red", "blue"], rows, p=[color_p, 1 - color_p])}
                 ).to_csv(project / f"data/{name}.csv", index=False)



@pytest.mark.parametrize(("drift", "shift", "color_p", "failed"), [
    ("{categorical: chi2}", 0.0, 0.5, []),
    ("{categorical: chi2}", 0.0, 0.8, [("drift_chi2", "color")]),
    ("{numeric: psi, categorical: psi, threshold: 0.1}", 0.0, 0.5, []),
    ("{numeric: psi, categorical: psi, threshold: 0.1}", 1.0, 0.8,
     [("drift_psi", "x"), ("drift_psi", "color")]),
    ("{numeric: ks, categorical: psi, thresholds: {ks: 0.01, psi: 0.1}, columns: [x]}",
     0.0, 0.8, []),
    ("{numeric: ks, categorical: psi, thresholds: {ks: 0.01, psi: 0.1}}", 0.0, 0.8,
     [("drift_psi", "color")]),
])
def test_drift_tests_through_run(project: Path, mlpipe: Invoke, drift: str, shift: float,
                                 color_p: float, failed: list) -> None:
    _batch(project, "reference", seed=1)
    _batch(project, "batch", color_p=color_p, x_shift=shift, seed=2)
    write_tree(project, {"mlpipe.yaml": f"""\
        stages:
          check: {{kind: validate, data: data/batch.csv, reference: data/reference.csv,
                  drift: {drift}, on_fail: warn}}
    """})
    assert statuses(mlpipe("run", "--json")) == {"check": "ran"}
    report = json.loads((project / "out/check/report.json").read_text())
    assert [(c["check"], c["column"]) for c in report["checks"] if not c["passed"]] == failed
    assert report["passed"] is not failed



def test_psi_message_names_column_value_and_threshold(project: Path, mlpipe: Invoke) -> None:
    _batch(project, "reference", seed=1)
    _batch(project, "batch", x_shift=2.0, seed=2)
    write_tree(project, {"mlpipe.yaml": """\
        stages:
          check: {kind: validate, data: data/batch.csv, reference: data/reference.csv,
                  drift: {numeric: psi, categorical: psi, threshold: 0.25}}
    """})
    result = mlpipe("run", "--json")
    assert result.exit_code == 1
    assert re.fullmatch(r"column 'x': drift PSI [0-9.]+ > 0\.25",
                        json.loads(result.stdout)["stages"][0]["reason"])



def test_skew_between_train_and_test_of_an_ingest(project: Path, mlpipe: Invoke) -> None:
    write_tree(project, {"mlpipe.yaml": """\
        stages:
          ingest: {kind: ingest, dataset: wine, test_size: 0.3}
          skew: {kind: validate, data: ingest.train, reference: ingest.test, skew: true}
    """})
    assert statuses(mlpipe("run", "--json")) == {"ingest": "ran", "skew": "ran"}
    report = json.loads((project / "out/skew/report.json").read_text())
    kinds = {c["check"] for c in report["checks"]}
    assert report["passed"] and kinds == {"skew_columns", "skew_dtype", "skew_null_rate",
                                          "skew_mean_shift"}
    assert len(report["checks"]) == 1 + 3 * 14



def test_skew_finds_unseen_categories_nulls_missing_columns_and_shifted_means(
        project: Path, mlpipe: Invoke) -> None:
    (project / "data").mkdir()
    pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0] * 25, "color": ["red", "blue"] * 50,
                  "extra": 1}).to_csv(project / "data/train.csv", index=False)
    pd.DataFrame({"x": [9.0, None, 8.0, 7.0] * 25, "color": ["red", "green"] * 50}
                 ).to_csv(project / "data/serve.csv", index=False)
    write_tree(project, {"mlpipe.yaml": """\
        stages:
          skew: {kind: validate, data: data/serve.csv, reference: data/train.csv, skew: true}
    """})
    result = mlpipe("run", "--json")
    assert result.exit_code == 1
    report = json.loads((project / "out/skew/report.json").read_text())
    messages = [c["message"] for c in report["checks"] if not c["passed"]]
    assert messages == [
        "skew: columns missing from data: extra; not in reference: none",
        "column 'x': skew null rate 0.25 vs 0 in reference (difference 0.25 > 0.1)",
        "column 'x': skew mean shift 4.92 std > 0.5",
        "column 'color': skew 50.0% of values unseen in reference (> 1.0%)"]
    assert json.loads(result.stdout)["stages"][0]["reason"] == (
        f"{messages[0]} (and 3 more failed checks)")



def test_drift_example_stops_a_bad_batch(tmp_path: Path, mlpipe: Invoke,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "drift"
    shutil.copytree(EXAMPLES / "drift", root, ignore=shutil.ignore_patterns(
        ".mlpipe", "out", "mlpipe.lock", "data"))
    monkeypatch.chdir(root)
    monkeypatch.setenv("MLPIPE_LOCK_WAIT", "0.5")
    good = mlpipe("run", "--json")
    assert statuses(good) == {s: "ran" for s in ("batches", "profile", "check", "ingest",
                                                 "train", "evaluate", "register")}, good.stdout
    bad = mlpipe("run", "--json", "-S", "batch.shift=1.0")
    assert bad.exit_code == 1
    assert statuses(bad) == {"batches": "ran", "profile": "cached", "check": "failed",
                             "ingest": "skipped", "train": "skipped", "evaluate": "skipped",
                             "register": "skipped"}
    reason = json.loads(bad.stdout)["stages"][2]["reason"]
    assert re.match(r"column 'income': drift KS p=\S+ < 0\.01", reason), reason
    report = json.loads((root / "out/check/report.json").read_text())
    assert report["passed"] is False
    assert {c["column"] for c in report["checks"] if c["check"] == "max"} == {
        "age", "income", "tenure_months"}
    assert statuses(mlpipe("run", "--json"))["check"] in ("cached", "restored")


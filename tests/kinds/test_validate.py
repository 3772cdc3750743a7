"""The validate kind through `mlpipe run`: expectations, drift, stop and warn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import Invoke, statuses, write_tree


def _tables(project: Path, shift: float) -> None:
    rng = np.random.default_rng(0)
    (project / "data").mkdir()
    for name, offset in (("reference", 0.0), ("batch", shift)):
        pd.DataFrame({"x": rng.normal(offset, 1, 400), "id": range(400),
                      "color": rng.choice(["red", "blue"], 400),
                      "code": [f"A{i:03d}" for i in range(400)]}
                     ).to_parquet(project / f"data/{name}.parquet")


PIPELINE = """\
    stages:
      check:
        kind: validate
        data: data/batch.parquet
        reference: data/reference.parquet
        on_fail: {on_fail}
        rows: {{min: 100, max: 1000}}
        expectations:
          x: {{type: float, not_null: true, min: -10, max: {max}}}
          id: {{type: int, unique: true}}
          color: {{allowed: [red, blue]}}
          code: {{regex: "A[0-9]{{3}}"}}
        drift: {{threshold: 0.01}}
      train:
        kind: command
        cmd: echo trained > model.txt
        deps: [out/check/report.json]
        outs: [model.txt]
"""


def test_a_good_batch_passes_every_check(project: Path, mlpipe: Invoke) -> None:
    _tables(project, shift=0.0)
    write_tree(project, {"mlpipe.yaml": PIPELINE.format(on_fail="stop", max=10)})
    result = mlpipe("run", "--json")
    assert statuses(result) == {"check": "ran", "train": "ran"}
    report = json.loads((project / "out/check/report.json").read_text())
    assert report["passed"] is True
    assert {(c["check"], c["column"]) for c in report["checks"]} >= {
        ("rows", None), ("type", "x"), ("unique", "id"), ("allowed", "color"),
        ("regex", "code"), ("drift_ks", "x"), ("drift_chi2", "color")}


def test_a_shifted_batch_is_stopped_by_drift(project: Path, mlpipe: Invoke) -> None:
    _tables(project, shift=1.0)
    write_tree(project, {"mlpipe.yaml": PIPELINE.format(on_fail="stop", max=10)})
    result = mlpipe("run", "--json")
    assert result.exit_code == 1
    assert statuses(result) == {"check": "failed", "train": "skipped"}
    reason = json.loads(result.stdout)["stages"][0]["reason"]
    assert reason.startswith("column 'x': drift KS p=") and "< 0.01" in reason
    assert not (project / "model.txt").exists()


def test_warn_records_and_goes_on(project: Path, mlpipe: Invoke) -> None:
    _tables(project, shift=0.0)
    write_tree(project, {"mlpipe.yaml": PIPELINE.format(on_fail="warn", max=1)})
    result = mlpipe("run", "--json")
    assert statuses(result) == {"check": "ran", "train": "ran"}
    report = json.loads((project / "out/check/report.json").read_text())
    failed = [c for c in report["checks"] if not c["passed"]]
    assert [(c["check"], c["column"], c["threshold"]) for c in failed] == [("max", "x", 1)]
    assert failed[0]["message"].startswith("column 'x': max ") and failed[0]["observed"] > 1


@pytest.mark.parametrize(("expectations", "message"), [
    ("{missing: {not_null: true}}", "column 'missing': missing"),
    ("{color: {allowed: [red]}}", "column 'color': values not allowed: blue"),
    ("{x: {type: int}}", "column 'x': type float64 is not int"),
    ("{code: {regex: 'B.*'}}", "column 'code': 400 values do not match /B.*/"),
    ("{color: {unique: true}}", "column 'color': 398 duplicate values"),
])
def test_each_failed_expectation_names_column_and_check(
        project: Path, mlpipe: Invoke, expectations: str, message: str) -> None:
    _tables(project, shift=0.0)
    write_tree(project, {"mlpipe.yaml": f"""\
        stages:
          check: {{kind: validate, data: data/batch.parquet, expectations: {expectations}}}
    """})
    result = mlpipe("run", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["stages"][0]["reason"] == message


def test_bad_validate_config_is_a_load_error(project: Path, mlpipe: Invoke) -> None:
    _tables(project, shift=0.0)
    write_tree(project, {"mlpipe.yaml": """\
        stages:
          check: {kind: validate, data: data/batch.parquet, expectations: {x: {maximum: 1}}}
    """})
    result = mlpipe("check")
    assert result.exit_code == 2 and "column 'x': unknown check 'maximum'" in result.stderr

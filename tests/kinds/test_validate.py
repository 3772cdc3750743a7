"""The validate kind: expectations, drift, skew, infer, stop and warn; units and `mlpipe run`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import Invoke, statuses, write_tree

from mlpipe.ml.expectations import column_checks, rows_check, validate_expectations


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


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "i": [1, 2, 3, 4], "f": [0.5, 1.5, 2.5, 3.5], "s": ["a", "b", "c", "d"],
        "b": [True, False, True, False], "c": pd.Categorical(["x", "y", "x", "y"]),
        "n": [1.0, None, 3.0, 4.0], "whole": [1.0, 2.0, None, 4.0], "d": ["a", "a", "b", "b"]})


@pytest.mark.parametrize(("column", "check", "threshold", "passed", "message"), [
    ("i", "type", "int", True, "type int64 is int"),
    ("f", "type", "int", False, "type float64 is not int"),
    ("whole", "type", "int", True, "type float64 is int"),
    ("f", "type", "float", True, "type float64 is float"),
    ("s", "type", "float", False, "type str is not float"),
    ("s", "type", "str", True, "type str is str"),
    ("i", "type", "str", False, "type int64 is not str"),
    ("c", "type", "str", False, "type category is not str"),
    ("b", "type", "bool", True, "type bool is bool"),
    ("i", "type", "bool", False, "type int64 is not bool"),
    ("c", "type", "category", True, "type category is category"),
    ("f", "type", "category", False, "type float64 is not category"),
    ("i", "not_null", True, True, "0 null values"),
    ("n", "not_null", True, False, "1 null values"),
    ("f", "min", 0.5, True, "min 0.5 >= 0.5"),
    ("f", "min", 1, False, "min 0.5 < 1"),
    ("f", "max", 3.5, True, "max 3.5 <= 3.5"),
    ("f", "max", 3.0, False, "max 3.5 > 3.0"),
    ("s", "max", 3, False, "max needs numbers, the column is str"),
    ("s", "allowed", ["a", "b", "c", "d"], True, "every value allowed"),
    ("s", "allowed", ["a", "b"], False, "values not allowed: c, d"),
    ("i", "allowed", [1, 2, 3], False, "values not allowed: 4"),
    ("s", "unique", True, True, "0 duplicate values"),
    ("d", "unique", True, False, "2 duplicate values"),
    ("s", "regex", "[a-d]", True, "0 values do not match /[a-d]/"),
    ("s", "regex", "[ab]", False, "2 values do not match /[ab]/"),
])
def test_each_expectation_passes_and_fails(column: str, check: str, threshold: object,
                                           passed: bool, message: str) -> None:
    [row] = column_checks(_frame(), column, {check: threshold})
    assert (row["passed"], row["message"]) == (passed, f"column '{column}': {message}")
    assert (row["check"], row["column"], row["threshold"]) == (check, column, threshold)
    json.dumps(row, allow_nan=False)  # the report row is plain JSON


@pytest.mark.parametrize(("bounds", "passed", "message"), [
    ({"min": 4}, True, "rows: 4 (min 4)"),
    ({"min": 5}, False, "rows: 4 < min 5"),
    ({"min": 1, "max": 3}, False, "rows: 4 > max 3"),
])
def test_row_count(bounds: dict, passed: bool, message: str) -> None:
    row = rows_check(_frame(), bounds)
    assert (row["passed"], row["message"], row["observed"]) == (passed, message, 4)


@pytest.mark.parametrize(("bad", "message"), [
    ({"x": {"type": "integer"}}, "column 'x': type must be one of int, float, str, bool"),
    ({"x": {"min": "low"}}, "column 'x': min must be a number, not 'low'"),
    ({"x": {"regex": "(["}}, "column 'x': regex '([' is invalid"),
    ({"x": {"not_nul": True}}, "column 'x': unknown check 'not_nul' (did you mean 'not_null'?)"),
    ({"x": {"allowed": "a"}}, "column 'x': allowed must be a list"),
    ({"x": ["min"]}, "column 'x': checks must be a mapping"),
])
def test_bad_expectations_are_rejected(bad: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        validate_expectations(bad)


INFER = """\
    stages:
      profile: {kind: validate, data: data/reference.csv, infer: true}
      check:
        kind: validate
        data: data/batch.csv
        expectations_file: profile.expectations
      after: {kind: command, cmd: "touch after.txt", deps: [out/check/report.json],
              outs: [after.txt]}
"""


def test_infer_writes_a_usable_expectations_file(project: Path, mlpipe: Invoke) -> None:
    (project / "data").mkdir()
    frame = pd.DataFrame({"id": range(30), "x": np.linspace(0, 1, 30),
                          "color": ["red", "blue", "green"] * 10, "n": [1.0, None] * 15})
    frame.to_csv(project / "data/reference.csv", index=False)
    frame.iloc[5:].to_csv(project / "data/batch.csv", index=False)
    write_tree(project, {"mlpipe.yaml": INFER})
    result = mlpipe("run", "--json")
    assert statuses(result) == {"profile": "ran", "check": "ran", "after": "ran"}
    inferred = yaml.safe_load((project / "out/profile/expectations.yaml").read_text())
    assert inferred == {"rows": {"min": 1}, "expectations": {
        "id": {"type": "int", "not_null": True, "min": 0, "max": 29, "unique": True},
        "x": {"type": "float", "not_null": True, "min": 0.0, "max": 1.0},
        "color": {"type": "str", "not_null": True, "allowed": ["blue", "green", "red"]},
        "n": {"type": "float", "min": 1.0, "max": 1.0}}}
    report = json.loads((project / "out/check/report.json").read_text())
    assert report["passed"] and len(report["checks"]) == 1 + 5 + 4 + 3 + 3
    assert json.loads((project / "out/profile/report.json").read_text())["passed"]
    # The user's workflow: copy the inferred file, commit it, point `expectations_file` at it.
    (project / "expectations.yaml").write_text(
        (project / "out/profile/expectations.yaml").read_text())
    write_tree(project, {"mlpipe.yaml": INFER.replace("profile.expectations",
                                                      "expectations.yaml")})
    assert statuses(mlpipe("run", "--json"))["check"] in ("ran", "cached")
    frame.assign(color=["red", "blue", "purple"] * 10).to_csv(project / "data/batch.csv",
                                                              index=False)
    result = mlpipe("run", "--json")
    assert statuses(result) == {"profile": "cached", "check": "failed", "after": "skipped"}
    assert json.loads(result.stdout)["stages"][1]["reason"] == (
        "column 'color': values not allowed: purple")


def test_infer_applies_to_data_against_a_reference_and_stage_fields_win(
        project: Path, mlpipe: Invoke) -> None:
    (project / "data").mkdir()
    pd.DataFrame({"x": [1, 2, 3]}).to_csv(project / "data/reference.csv", index=False)
    pd.DataFrame({"x": [1, 2, 9]}).to_csv(project / "data/batch.csv", index=False)
    write_tree(project, {"mlpipe.yaml": """\
        stages:
          check: {kind: validate, data: data/batch.csv, reference: data/reference.csv,
                  infer: true, expectations: {x: {max: 10, allowed: [1, 2, 9]}}}
    """})
    assert statuses(mlpipe("run", "--json")) == {"check": "ran"}
    header = (project / "out/check/expectations.yaml").read_text().splitlines()[0]
    assert header == ("# Expectations inferred by mlpipe from data/reference.csv (3 rows), "
                      "stage 'check'.")
    report = json.loads((project / "out/check/report.json").read_text())
    assert [(c["check"], c["threshold"]) for c in report["checks"] if c["column"] == "x"] == [
        ("type", "int"), ("not_null", True), ("min", 1), ("max", 10), ("allowed", [1, 2, 9])]
    write_tree(project, {"mlpipe.yaml": """\
        stages:
          check: {kind: validate, data: data/batch.csv, reference: data/reference.csv,
                  infer: true}
    """})
    result = mlpipe("run", "--json")
    assert json.loads(result.stdout)["stages"][0]["reason"] == (
        "column 'x': max 9 > 3 (and 1 more failed check)")  # allowed [1, 2, 3] too


@pytest.mark.parametrize(("content", "message"), [
    ("expectations: {x: {maximum: 1}}",
     "bad.yaml: column 'x': unknown check 'maximum' (did you mean 'max'?)"),
    ("rows: {min: -1}", "bad.yaml: rows: 'min' must be a whole number >= 0"),
    ("columns: {}", "bad.yaml: an expectations file is a mapping with 'rows' and 'expectations'"),
    ("expectations: {x: [", "bad.yaml: cannot read expectations: "),
])
def test_a_bad_expectations_file_fails_naming_the_file(project: Path, mlpipe: Invoke,
                                                       content: str, message: str) -> None:
    _tables(project, shift=0.0)
    write_tree(project, {"bad.yaml": content, "mlpipe.yaml": """\
        stages:
          check: {kind: validate, data: data/batch.parquet, expectations_file: bad.yaml}
    """})
    result = mlpipe("run", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["stages"][0]["reason"].startswith(message)


@pytest.mark.parametrize(("data", "message"), [
    ("", "data/batch.csv: cannot read as csv: "),
    ("not a parquet file", "data/batch.parquet: cannot read as parquet: "),
])
def test_unreadable_data_fails_naming_the_file(project: Path, mlpipe: Invoke, data: str,
                                               message: str) -> None:
    name = message.split(":")[0]
    write_tree(project, {name: data, "mlpipe.yaml": f"""\
        stages:
          check: {{kind: validate, data: {name}, expectations: {{x: {{not_null: true}}}}}}
    """})
    result = mlpipe("run", "--json")
    assert result.exit_code == 1
    reason = json.loads(result.stdout)["stages"][0]["reason"]
    assert message in reason and str(project) not in reason


@pytest.mark.parametrize(("fields", "message"), [
    ("drift: {threshold: 0.05}", "'drift' needs a 'reference' dataset"),
    ("skew: true", "'skew' needs a 'reference' dataset"),
    ("reference: data/batch.parquet\n    drift: {numeric: chi2}",
     "drift: numeric must be one of ks, psi"),
    ("reference: data/batch.parquet\n    drift: {numeric: ks, categorical: psi, threshold: 0.1}",
     "drift: 'threshold' is a p-value for ks/chi2 but a PSI for psi"),
    ("reference: data/batch.parquet\n    drift: {pvalue: 0.1}", "drift: unknown key 'pvalue'"),
    ("reference: data/batch.parquet\n    skew: {nulls: 0.1}", "skew: unknown key 'nulls'"),
    ("rows: {min: 1, most: 5}", "'rows' must be a mapping with 'min' and/or 'max'"),
    ("on_fail: ignore", "'on_fail' must be stop or warn"),
    ("infer: yes please", "'infer' must be true or false"),
])
def test_more_bad_validate_config(project: Path, mlpipe: Invoke, fields: str, message: str
                                  ) -> None:
    _tables(project, shift=0.0)
    write_tree(project, {"mlpipe.yaml": f"""\
stages:
  check:
    kind: validate
    data: data/batch.parquet
    {fields}
"""})
    result = mlpipe("check")
    assert result.exit_code == 2 and "mlpipe.yaml:" in result.stderr
    assert message in result.stderr



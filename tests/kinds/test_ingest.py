"""The ingest kind: every source and option through `mlpipe run`, the split, bad input."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import Result
from conftest import Invoke, statuses, write_tree
from sklearn.model_selection import train_test_split

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "pipelines"


def _out(project: Path, stage: str, name: str) -> pd.DataFrame:
    return pd.read_parquet(project / f"out/{stage}/{name}.parquet")


def _schema(project: Path, stage: str) -> dict:
    return json.loads((project / f"out/{stage}/schema.json").read_text())


def _reason(result: Result, stage: str) -> str:
    stages = json.loads(result.stdout)["stages"]
    return next(s["reason"] for s in stages if s["name"] == stage)


def _table(rows: int = 100, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"id": range(rows), "x": rng.normal(0, 1, rows).round(4),
                         "city": rng.choice(["a", "b", "c"], rows),
                         "label": np.where(np.arange(rows) % 10 == 0, "rare", "common")})


def test_every_shipped_dataset(project: Path, mlpipe: Invoke) -> None:
    write_tree(project, {"mlpipe.yaml": """\
        stages:
          iris: {kind: ingest, dataset: iris, target: species}
          wine: {kind: ingest, dataset: wine}
          breast_cancer: {kind: ingest, dataset: breast_cancer}
          diabetes: {kind: ingest, dataset: diabetes, test_size: 0.5}
          digits: {kind: ingest, dataset: digits, columns: [pixel_0_2, pixel_3_4, target]}
    """})
    result = mlpipe("run", "--json")
    assert set(statuses(result).values()) == {"ran"}
    expected = {"iris": (150, "species", "classification"), "wine": (178, "target",
                "classification"), "breast_cancer": (569, "target", "classification"),
                "diabetes": (442, "target", "regression"), "digits": (1797, "target",
                "classification")}
    for stage, (rows, target, task) in expected.items():
        schema = _schema(project, stage)
        assert (schema["rows"], schema["target"], schema["task"]) == (rows, target, task)
        assert len(_out(project, stage, "train")) + len(_out(project, stage, "test")) == rows
    assert [c["name"] for c in _schema(project, "iris")["columns"]] == [
        "sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
    assert len(_out(project, "diabetes", "test")) == 221
    assert list(_out(project, "digits", "train").columns) == ["pixel_0_2", "pixel_3_4", "target"]


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_file_sources_with_columns_and_dtypes(project: Path, mlpipe: Invoke, fmt: str) -> None:
    (project / "data").mkdir()
    path = project / f"data/table.{fmt}"
    _write(_table(), path, fmt)
    write_tree(project, {"mlpipe.yaml": f"""\
        stages:
          ingest:
            kind: ingest
            path: data/table.{fmt}
            columns: [x, city, label]
            dtypes: {{city: category, x: float32}}
            target: label
    """})
    result = mlpipe("run", "--json")
    assert statuses(result) == {"ingest": "ran"}
    schema = _schema(project, "ingest")
    assert schema["columns"] == [{"name": "x", "dtype": "float32"},
                                 {"name": "city", "dtype": "category"},
                                 {"name": "label", "dtype": "str"}]
    assert (schema["rows"], schema["task"]) == (100, "classification")
    train = _out(project, "ingest", "train")
    assert (len(train), len(_out(project, "ingest", "test"))) == (80, 20)
    assert set(train["city"]) == {"a", "b", "c"}
    _write(_table(50), path, fmt)
    assert statuses(mlpipe("run", "--json")) == {"ingest": "ran"}  # the file is a dep
    assert _schema(project, "ingest")["rows"] == 50


def _write(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "parquet":
        frame.to_parquet(path)
    else:
        frame.to_json(path, orient="records", lines=True)


def test_declared_format_and_read_options(project: Path, mlpipe: Invoke) -> None:
    write_tree(project, {"export.txt": "a;b;label\n" + "".join(
        f"{i};{i * 2};{'y' if i % 2 else 'n'}\n" for i in range(20)), "mlpipe.yaml": """\
        stages:
          ingest:
            kind: ingest
            path: export.txt
            format: csv
            read_options: {sep: ";"}
            target: label
            test_size: 0.25
    """})
    assert statuses(mlpipe("run", "--json")) == {"ingest": "ran"}
    test = _out(project, "ingest", "test")
    assert list(test.columns) == ["a", "b", "label"] and len(test) == 5


def test_sql_source_with_a_join_and_the_database_as_a_dep(project: Path, mlpipe: Invoke
                                                           ) -> None:
    (project / "data").mkdir()
    with sqlite3.connect(project / "data/shop.db") as db:
        db.execute("create table orders (id integer, amount real, customer integer)")
        db.execute("create table customers (id integer, tier text)")
        db.executemany("insert into orders values (?, ?, ?)",
                       [(i, i * 1.5, i % 4) for i in range(40)])
        db.executemany("insert into customers values (?, ?)",
                       [(0, "gold"), (1, "silver"), (2, "gold"), (3, "silver")])
    db.close()
    write_tree(project, {"mlpipe.yaml": """\
        stages:
          ingest:
            kind: ingest
            sql:
              url: sqlite:///data/shop.db
              query: select o.amount, c.tier from orders o join customers c on c.id = o.customer
            database: data/shop.db
            target: tier
            test_size: 0.5
    """})
    assert statuses(mlpipe("run", "--json")) == {"ingest": "ran"}
    test = _out(project, "ingest", "test")
    assert list(test.columns) == ["amount", "tier"] and sorted(test["tier"].value_counts()) == [
        10, 10]
    assert _schema(project, "ingest")["task"] == "classification"


@pytest.mark.parametrize(("query", "database", "message"), [
    ("select * from missing_table", "data/shop.db",
     "sqlite:///data/shop.db: query failed: no such table: missing_table"),
    ("select 1", None, "database file 'data/gone.db' not found"),
])
def test_sql_failures_name_the_database(project: Path, mlpipe: Invoke, query: str,
                                        database: str | None, message: str) -> None:
    (project / "data").mkdir()
    sqlite3.connect(project / "data/shop.db").close()
    url = f"sqlite:///{database or 'data/gone.db'}"
    write_tree(project, {"mlpipe.yaml": f"""\
        stages:
          ingest: {{kind: ingest, sql: {{url: "{url}", query: "{query}"}}, target: y}}
    """})
    result = mlpipe("run", "--json")
    assert result.exit_code == 1 and message in _reason(result, "ingest")
    assert not (project / "data/gone.db").exists()  # sqlite did not create an empty file


def test_stratified_split_keeps_class_proportions(project: Path, mlpipe: Invoke) -> None:
    _table(200).to_csv(project / "t.csv", index=False)  # 10% rare
    write_tree(project, {"mlpipe.yaml": """\
        stages:
          strat: {kind: ingest, path: t.csv, target: label, test_size: 0.25, seed: 3}
          plain: {kind: ingest, path: t.csv, target: label, test_size: 0.25, seed: 3,
                  stratify: false}
    """})
    assert set(statuses(mlpipe("run", "--json")).values()) == {"ran"}
    assert _out(project, "strat", "test")["label"].value_counts().to_dict() == {
        "common": 45, "rare": 5}
    assert _out(project, "strat", "train")["label"].value_counts().to_dict() == {
        "common": 135, "rare": 15}
    frame = pd.read_csv(project / "t.csv")
    _, expected = train_test_split(frame, test_size=0.25, random_state=3)
    assert list(_out(project, "plain", "test")["id"]) == list(expected["id"])


def test_seeded_split_is_reproducible(project: Path, mlpipe: Invoke) -> None:
    _table(60).to_csv(project / "t.csv", index=False)
    write_tree(project, {"mlpipe.yaml": """\
        stages:
          a: {kind: ingest, path: t.csv, target: x, seed: 11}
          b: {kind: ingest, path: t.csv, target: x, seed: 11}
          c: {kind: ingest, path: t.csv, target: x, seed: 12}
    """})
    assert set(statuses(mlpipe("run", "--json")).values()) == {"ran"}
    ids = {s: list(_out(project, s, "test")["id"]) for s in "abc"}
    assert ids["a"] == ids["b"] and ids["a"] != ids["c"] and len(ids["a"]) == 12
    assert _schema(project, "a")["task"] == "regression"  # float target
    first = (project / "out/a/test.parquet").read_bytes()
    shutil.rmtree(project / "out")
    shutil.rmtree(project / ".mlpipe")
    assert statuses(mlpipe("run", "--json"))["a"] == "ran"
    assert list(_out(project, "a", "test")["id"]) == ids["a"]
    assert (project / "out/a/test.parquet").read_bytes() == first


def test_time_split_puts_the_latest_rows_in_test(project: Path, mlpipe: Invoke) -> None:
    days = pd.date_range("2024-01-01", periods=30, freq="D")
    frame = pd.DataFrame({"day": days.strftime("%Y-%m-%d"), "y": np.arange(30) * 1.5,
                          "label": ["x", "y"] * 15}).sample(frac=1, random_state=0)
    frame.to_csv(project / "t.csv", index=False)
    write_tree(project, {"mlpipe.yaml": """\
        stages:
          ingest: {kind: ingest, path: t.csv, target: label, time_column: day, test_size: 0.2,
                   dtypes: {day: "datetime64[ns]"}}
    """})
    assert statuses(mlpipe("run", "--json")) == {"ingest": "ran"}
    test, train = _out(project, "ingest", "test"), _out(project, "ingest", "train")
    assert list(test["day"]) == list(days[-6:]) and train["day"].max() == days[-7]
    assert len(train) == 24 and str(test["day"].dtype).startswith("datetime64")


def test_task_is_inferred_or_declared(project: Path, mlpipe: Invoke) -> None:
    frame = pd.DataFrame({"x": range(100), "count": [i % 50 for i in range(100)],
                          "flag": [float(i % 2) for i in range(100)]})
    frame.to_csv(project / "t.csv", index=False)
    write_tree(project, {"mlpipe.yaml": """\
        stages:
          counts: {kind: ingest, path: t.csv, target: count}
          flags: {kind: ingest, path: t.csv, target: flag}
          declared: {kind: ingest, path: t.csv, target: flag, task: regression,
                     stratify: false}
    """})
    assert set(statuses(mlpipe("run", "--json")).values()) == {"ran"}
    tasks = {s: _schema(project, s)["task"] for s in ("counts", "flags", "declared")}
    assert tasks == {"counts": "regression", "flags": "classification",
                     "declared": "regression"}


@pytest.mark.parametrize(("files", "stage", "message"), [
    ({"d.csv": ""}, "path: d.csv", "d.csv: empty file (no rows)"),
    ({"d.csv": "a,b,label\n"}, "path: d.csv", "d.csv: no rows"),
    ({"d.csv": "a;b;label\n1;2;x\n3;4;y\n"}, "path: d.csv",
     "d.csv: no target column 'label' (columns: a;b;label); the file looks ';'-delimited: "
     "set delimiter: ';'"),
    ({"d.csv": "a,b\n1,2\n"}, "path: d.csv", "d.csv: no target column 'label' (columns: a, b)"),
    ({"d.csv": "a,label\n1,x\n"}, "path: d.csv\n    columns: [a, label, zz]",
     "d.csv: no column 'zz' (columns: a, label)"),
    ({"d.parquet": "not parquet at all"}, "path: d.parquet", "d.parquet: cannot read as parquet"),
    ({"d.csv": "a,label\n1,x\n2,\n"}, "path: d.csv", "d.csv: target column 'label' has 1 "
                                                     "missing values"),
    ({"d.csv": "a,label\nq,x\n"}, "path: d.csv\n    dtypes: {a: int64}",
     "d.csv: line 2, column 'a': 'q' is not a number (dtypes: a: int64)"),
    ({"d.csv": "t,label\n1,x\n2,y\n"}, "path: d.csv\n    time_column: day",
     "d.csv: no time column 'day'"),
])
def test_bad_data_fails_naming_the_file_and_writes_nothing(
        project: Path, mlpipe: Invoke, files: dict[str, str], stage: str, message: str) -> None:
    write_tree(project, {**files, "mlpipe.yaml": f"""\
stages:
  ingest:
    kind: ingest
    {stage}
    target: label
  after: {{kind: command, cmd: "touch after.txt", deps: [out/ingest/train.parquet],
          outs: [after.txt]}}
"""})
    result = mlpipe("run", "--json")
    assert result.exit_code == 1
    assert statuses(result) == {"ingest": "failed", "after": "skipped"}
    assert _reason(result, "ingest").startswith(message)
    assert not (project / "out/ingest").exists() or not any((project / "out/ingest").iterdir())


@pytest.mark.parametrize(("stage", "message"), [
    ("dataset: iris\n    format: xlsx", "'format' must be one of csv, parquet, jsonl"),
    ("dataset: iris\n    test_size: 1.5", "'test_size' must be a fraction between 0 and 1"),
    ("dataset: iris\n    seed: abc", "'seed' must be a whole number"),
    ("dataset: iris\n    task: ranking", "'task' must be one of classification, regression"),
    ("dataset: iris\n    columns: sepal_length", "'columns' must be a non-empty list"),
    ("dataset: iris\n    time_column: t\n    stratify: true",
     "a time split ('time_column') cannot be stratified"),
    ("sql: {url: 'sqlite:///x.db'}\n    target: y", "'sql' needs 'url'"),
    ("target: y", "give exactly one source: 'path', 'sql' or 'dataset' (found none)"),
])
def test_bad_config_is_a_load_error(project: Path, mlpipe: Invoke, stage: str, message: str
                                    ) -> None:
    write_tree(project, {"mlpipe.yaml": f"stages:\n  s:\n    kind: ingest\n    {stage}\n"})
    result = mlpipe("check")
    assert result.exit_code == 2
    assert "mlpipe.yaml:" in result.stderr and message in result.stderr


def test_regression_target_cannot_be_stratified(project: Path, mlpipe: Invoke) -> None:
    write_tree(project, {"mlpipe.yaml": """\
        stages:
          ingest: {kind: ingest, dataset: diabetes, stratify: true}
    """})
    result = mlpipe("run", "--json")
    assert _reason(result, "ingest") == ("stratify needs a classification target; 'target' is "
                                         "a regression target (set stratify: false)")


def test_kinds_load_and_report_versions_without_importing_heavy_libraries() -> None:
    probe = ("import json, sys\n"
             "from mlpipe.kinds import get\n"
             "versions = {k: get(k).versions() for k in ('ingest', 'validate')}\n"
             "heavy = [m for m in ('pandas', 'sklearn', 'scipy', 'sqlalchemy', 'pyarrow')"
             " if m in sys.modules]\n"
             "print(json.dumps({'versions': versions, 'heavy': heavy}))")
    out = json.loads(subprocess.run([sys.executable, "-c", probe], capture_output=True,
                                    text=True, check=True).stdout)
    assert out["heavy"] == []
    assert out["versions"]["ingest"]["kind"] == "ingest/3"
    assert {"pandas", "pyarrow", "scikit-learn", "sqlalchemy", "python"} <= set(
        out["versions"]["ingest"])
    assert {"pandas", "scipy", "pyyaml"} <= set(out["versions"]["validate"])


def test_sql_example_builds_its_database_and_trains(tmp_path: Path, mlpipe: Invoke,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "sql"
    shutil.copytree(EXAMPLES / "sql", root, ignore=shutil.ignore_patterns(
        ".mlpipe", "out", "mlpipe.lock", "wine.db"))
    monkeypatch.chdir(root)
    monkeypatch.setenv("MLPIPE_LOCK_WAIT", "0.5")
    result = mlpipe("run", "--json")
    assert statuses(result) == {s: "ran" for s in ("database", "ingest", "validate", "train",
                                                   "evaluate")}, result.stdout
    schema = _schema(root, "ingest")
    assert (schema["rows"], schema["target"], schema["task"]) == (178, "cultivar",
                                                                   "classification")
    assert set(_out(root, "ingest", "test")["cultivar"]) == {"barolo", "grignolino", "barbera"}
    assert json.loads((root / "out/validate/report.json").read_text())["passed"] is True
    assert json.loads((root / "out/evaluate/metrics.json").read_text())["accuracy"] >= 0.9
    with sqlite3.connect(root / "data/wine.db") as db:
        assert db.execute("select count(*) from samples").fetchone() == (178,)
    db.close()

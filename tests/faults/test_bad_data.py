"""Bad data never trains a model: ingest -> validate -> train on broken files.

Each broken file fails `ingest` with one line naming the file and the problem (line, column,
value where known) and the option that fixes it; `validate` and `train` are skipped and no
output of ingest is written.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import Result
from conftest import Invoke, statuses, write_tree

ROWS = 40


def _table() -> pd.DataFrame:
    """40 rows: a float, an int, a text column with non-ASCII values, a two-class label."""
    rng = np.random.default_rng(0)
    return pd.DataFrame({"x": rng.normal(0, 1, ROWS).round(3), "n": np.arange(ROWS) % 7,
                         "city": np.where(np.arange(ROWS) % 2, "Zürich", "Genève"),
                         "label": np.where(np.arange(ROWS) % 3, "yes", "no")})


def _lines(sep: str = ",") -> list[str]:
    """The table as CSV lines, the header first (so data row i is on line i + 2)."""
    return _table().to_csv(index=False, sep=sep).splitlines()


def _with(lines: list[str], line: int, text: str) -> str:
    """The CSV text with file line `line` (1-based) replaced by `text`."""
    changed = list(lines)
    changed[line - 1] = text
    return "\n".join(changed) + "\n"


def _pipeline(project: Path, path: str, options: str = "") -> None:
    """ingest (from `path`, or the `source` lines it is) -> validate -> train."""
    source = path if ":" in path else f"path: {path}"
    write_tree(project, {"mlpipe.yaml": f"""\
stages:
  ingest:
    kind: ingest
    {source}
    target: label
{options}
  validate: {{kind: validate, data: ingest.train, rows: {{min: 1}}}}
  train:
    kind: train
    data: ingest.train
    schema: ingest.schema
    estimator: logistic_regression
    needs: [validate]
"""})


def _reason(result: Result) -> str:
    stages = json.loads(result.stdout)["stages"]
    return next(s["reason"] for s in stages if s["name"] == "ingest")


def _failed(project: Path, mlpipe: Invoke) -> str:
    """Run; check that ingest failed and nothing after it ran or was written; its reason."""
    result = mlpipe("run", "--json")
    assert result.exit_code == 1, result.stdout
    assert statuses(result) == {"ingest": "failed", "validate": "skipped", "train": "skipped"}
    assert not list(project.glob("out/**/*.*"))  # no half-written table, no model
    return _reason(result)


def _ran(project: Path, mlpipe: Invoke) -> None:
    result = mlpipe("run", "--json")
    assert statuses(result) == {"ingest": "ran", "validate": "ran", "train": "ran"}, _reason(
        result)
    assert (project / "out/train/model.joblib").exists()


class TestCsv:
    @pytest.mark.parametrize(("sep", "shown"), [(";", "x;n;city;label"),
                                                ("\t", "x\tn\tcity\tlabel")])
    def test_wrong_delimiter_names_the_one_the_file_uses(
            self, project: Path, mlpipe: Invoke, sep: str, shown: str) -> None:
        (project / "data.csv").write_text("\n".join(_lines(sep)) + "\n", encoding="utf-8")
        _pipeline(project, "data.csv")
        assert _failed(project, mlpipe) == (
            f"data.csv: no target column 'label' (columns: {shown}); the file looks "
            f"{sep!r}-delimited: set delimiter: {sep!r}")

    @pytest.mark.parametrize("field", ["delimiter", "sep"])
    def test_the_suggested_delimiter_reads_the_file(self, project: Path, mlpipe: Invoke,
                                                    field: str) -> None:
        (project / "data.csv").write_text("\n".join(_lines(";")) + "\n", encoding="utf-8")
        _pipeline(project, "data.csv", f'    {field}: ";"')
        _ran(project, mlpipe)

    def test_wrong_encoding_names_the_line_and_byte_and_suggests_one(
            self, project: Path, mlpipe: Invoke) -> None:
        text = "\n".join(_lines()) + "\n"
        (project / "data.csv").write_bytes(text.encode("latin-1"))
        offset = next(i for i, char in enumerate(text) if not char.isascii())  # 1 byte a char
        line = text[:offset].count("\n") + 1
        _pipeline(project, "data.csv")
        assert _failed(project, mlpipe) == (
            f"data.csv: line {line} (byte {offset}): 0x{ord(text[offset]):02x} is not valid "
            "utf-8; set encoding: latin-1 (or the file's actual encoding)")
        _pipeline(project, "data.csv", "    encoding: latin-1")
        _ran(project, mlpipe)
        train = pd.read_parquet(project / "out/ingest/train.parquet")
        assert set(train["city"]) == {"Zürich", "Genève"}

    def test_a_value_not_of_its_declared_type_is_named(self, project: Path, mlpipe: Invoke
                                                       ) -> None:
        lines = _lines()
        (project / "data.csv").write_text(_with(lines, 7, "abc,3,Zürich,yes"), encoding="utf-8")
        _pipeline(project, "data.csv", "    dtypes: {x: float64, n: int64}")
        assert _failed(project, mlpipe) == (
            "data.csv: line 7, column 'x': 'abc' is not a number (dtypes: x: float64)")

    @pytest.mark.parametrize(("row", "dtypes", "message"), [
        ("0.5,,Zürich,yes", "{n: int64}", "line 9, column 'n': a value is missing (a nullable "
                                          "type such as Int64 allows missing values)"),
        ("0.5,2.5,Zürich,yes", "{n: int64}", "line 9, column 'n': 2.5 is not a whole number"),
        ("0.5,300,Zürich,yes", "{n: int8}", "line 9, column 'n': 300 is out of range"),
        ("0.5,3,Zürich,maybe", "{label: bool}", "line 9, column 'label': 'maybe' is not true "
                                                "or false"),
    ])
    def test_values_that_would_be_cast_silently_are_named(
            self, project: Path, mlpipe: Invoke, row: str, dtypes: str, message: str) -> None:
        text = _with(_lines(), 9, row)
        if "bool" in dtypes:
            text = text.replace(",yes\n", ",true\n").replace(",no\n", ",false\n")
        (project / "data.csv").write_text(text, encoding="utf-8")
        _pipeline(project, "data.csv", f"    dtypes: {dtypes}")
        assert _failed(project, mlpipe).startswith(f"data.csv: {message} (dtypes: ")

    def test_a_stray_text_value_in_a_numeric_column_is_named(self, project: Path,
                                                             mlpipe: Invoke) -> None:
        lines = _lines()
        lines[20] = "oops," + lines[20].split(",", 1)[1]  # data row 20
        text = "\n".join([*lines[:5], "", "", *lines[5:]]) + "\n"  # two blank lines before it
        (project / "data.csv").write_text(text, encoding="utf-8")
        _pipeline(project, "data.csv")
        assert _failed(project, mlpipe) == (
            "data.csv: line 23, column 'x': 'oops' in a numeric column (1 of 40 values is not "
            "a number); fix the data, or declare dtypes: {x: str} to read the column as text")

    def test_a_missing_value_marker_gets_a_na_values_hint_that_works(
            self, project: Path, mlpipe: Invoke) -> None:
        (project / "data.csv").write_text(_with(_lines(), 4, "?,3,Zürich,yes"), encoding="utf-8")
        _pipeline(project, "data.csv")
        assert _failed(project, mlpipe).endswith(
            "fix the data, or read_options: {na_values: ['?']} if it marks a missing value")
        _pipeline(project, "data.csv", "    read_options: {na_values: ['?']}")
        _ran(project, mlpipe)

    @pytest.mark.parametrize(("line", "message"), [
        (12, "data.csv: line 12 has 5 fields, the header has 4"),
        (2, "data.csv: line 2: the first data row has more fields than the header (4); if every "
            "line ends with a delimiter, set read_options: {index_col: false}"),
    ])
    def test_a_row_with_an_extra_field_is_an_error(self, project: Path, mlpipe: Invoke,
                                                   line: int, message: str) -> None:
        lines = _lines()
        (project / "data.csv").write_text(_with(lines, line, f"{lines[line - 1]},9"),
                                          encoding="utf-8")
        _pipeline(project, "data.csv")
        assert _failed(project, mlpipe) == message

    @pytest.mark.parametrize(("text", "message"), [
        ("", "data.csv: empty file (no rows)"),
        ("\n\n", "data.csv: empty file (no rows)"),
        ("x,n,city,label\n", "data.csv: no rows (only a header line)"),
    ])
    def test_empty_and_header_only_files(self, project: Path, mlpipe: Invoke, text: str,
                                         message: str) -> None:
        (project / "data.csv").write_text(text, encoding="utf-8")
        _pipeline(project, "data.csv")
        assert _failed(project, mlpipe) == message

    @pytest.mark.parametrize(("options", "message"), [
        ("    columns: [x, size, label]", "no column 'size' (columns: x, n, city, label)"),
        ("    dtypes: {cty: category}", "no column 'cty' in dtypes (did you mean 'city'?) "
                                        "(columns: x, n, city, label)"),
    ])
    def test_a_declared_column_that_is_missing(self, project: Path, mlpipe: Invoke,
                                               options: str, message: str) -> None:
        (project / "data.csv").write_text("\n".join(_lines()) + "\n", encoding="utf-8")
        _pipeline(project, "data.csv", options)
        assert _failed(project, mlpipe) == f"data.csv: {message}"

    def test_the_error_is_one_line_without_a_traceback(self, project: Path, mlpipe: Invoke
                                                       ) -> None:
        (project / "data.csv").write_text("\n".join(_lines(";")) + "\n", encoding="utf-8")
        _pipeline(project, "data.csv")
        result = mlpipe("run")
        assert result.exit_code == 1
        failed = [line for line in result.output.splitlines() if "failed in" in line]
        assert len(failed) == 1 and failed[0].startswith("ingest: failed in ")
        assert failed[0].endswith("the file looks ';'-delimited: set delimiter: ';'")
        assert "Traceback" not in result.output


class TestOtherFormats:
    def test_a_truncated_parquet_file(self, project: Path, mlpipe: Invoke) -> None:
        _table().to_parquet(project / "data.parquet")
        whole = (project / "data.parquet").read_bytes()
        (project / "data.parquet").write_bytes(whole[:len(whole) // 2])
        _pipeline(project, "data.parquet")
        assert _failed(project, mlpipe) == (
            "data.parquet: cannot read as parquet: truncated or not a Parquet file (its footer "
            "is missing)")

    @pytest.mark.parametrize(("line", "message"), [
        ('{"x": 1.5, "n": 2, "city": "Zürich", "label": "yes"', "line 6, column 52: invalid "
                                                                 "JSON (Expecting ',' delimiter)"),
        ("[1.5, 2]", "line 6: not a JSON object ([1.5, 2])"),
        ('{"x": "abc", "n": 2, "city": "Zürich", "label": "yes"}',
         "line 6, column 'x': 'abc' in a numeric column"),
    ])
    def test_a_bad_json_line(self, project: Path, mlpipe: Invoke, line: str, message: str
                             ) -> None:
        lines = _table().to_json(orient="records", lines=True, force_ascii=False).splitlines()
        (project / "data.jsonl").write_text(_with(lines, 6, line), encoding="utf-8")
        _pipeline(project, "data.jsonl")
        assert _failed(project, mlpipe).startswith(f"data.jsonl: {message}")

    def test_a_bad_value_from_sql_is_named_by_row(self, project: Path, mlpipe: Invoke) -> None:
        import sqlite3

        frame = _table().astype({"x": object})
        frame.loc[4, "x"] = "n/a?"
        with sqlite3.connect(project / "data.db") as db:
            frame.to_sql("samples", db, index=False)
        db.close()
        _pipeline(project, "sql: {url: 'sqlite:///data.db', query: select * from samples}",
                  "    database: data.db")
        assert _failed(project, mlpipe).startswith(
            "sqlite:///data.db: row 5, column 'x': 'n/a?' in a numeric column")


@pytest.mark.parametrize(("options", "message"), [
    ('    read_options: {on_bad_lines: skip}', "bad lines are always an error"),
    ('    delimiter: ";"\n    read_options: {sep: ";"}',
     "give the delimiter once (found delimiter, read_options.sep)"),
    ("    encoding: klingon", "unknown encoding 'klingon'"),
])
def test_options_that_would_hide_bad_data_are_load_errors(project: Path, mlpipe: Invoke,
                                                          options: str, message: str) -> None:
    _pipeline(project, "data.csv", options)
    result = mlpipe("check")
    assert result.exit_code == 2 and "mlpipe.yaml:" in result.stderr
    assert message in result.stderr


def test_one_bad_row_in_a_million_is_found(project: Path, mlpipe: Invoke) -> None:
    rows = 1_000_000
    lines = ["id,x,city,label", *(f"{i},{i % 997 / 10},{'abc'[i % 3]},{'yn'[i % 2]}"
                                  for i in range(rows))]
    write_tree(project, {"mlpipe.yaml": """\
        stages:
          ingest: {kind: ingest, path: big.csv, target: label}
    """})
    big = project / "big.csv"
    big.write_text("\n".join(lines) + "\n", encoding="utf-8")
    started = time.perf_counter()
    result = mlpipe("run", "--json")
    took = time.perf_counter() - started
    assert statuses(result) == {"ingest": "ran"}, result.stdout
    assert json.loads((project / "out/ingest/schema.json").read_text())["rows"] == rows
    print(f"ingest of {rows} good rows: {took:.1f}s")
    bad = list(lines)
    bad[612_346] = "612345,4.2,a,y,extra"
    big.write_text("\n".join(bad) + "\n", encoding="utf-8")
    result = mlpipe("run", "--json")
    assert statuses(result) == {"ingest": "failed"}
    assert _reason(result) == "big.csv: line 612347 has 5 fields, the header has 4"
    bad = list(lines)
    bad[876_544] = "876543,4..2,a,y"
    big.write_text("\n".join(bad) + "\n", encoding="utf-8")
    result = mlpipe("run", "--json")
    assert statuses(result) == {"ingest": "failed"}
    assert _reason(result).startswith("big.csv: line 876545, column 'x': '4..2' in a numeric "
                                      "column (1 of 1000000 values is not a number)")

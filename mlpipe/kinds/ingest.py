"""The `ingest` kind: read a table from a file, SQL or a shipped dataset, split it train/test.

Outputs: `train` and `test` (Parquet) and `schema` (JSON: columns with dtypes, row count,
target, task). Everything is read and checked before anything is written, so a failed ingest
never leaves half-read data behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mlpipe.errors import StageFailed, did_you_mean
from mlpipe.kinds.plugin import ConfigProblem, StageContext, StageKind, StageResult, output_path
from mlpipe.ml.dataio import DataError, table_format, write_json, write_table
from mlpipe.ml.readers import (
    TableSource,
    apply_dtypes,
    check_mixed_columns,
    read_file,
    require_columns,
)
from mlpipe.ml.tables import infer_task, library_versions, schema_of

if TYPE_CHECKING:
    import pandas as pd

DATASETS = ("iris", "wine", "breast_cancer", "diabetes", "digits")
TASKS = ("classification", "regression")
FORMATS = ("csv", "parquet", "jsonl")


class IngestKind(StageKind):
    """Read one table, declare its target, and split it into train and test."""

    name = "ingest"
    version = "3"
    optional: ClassVar[Mapping[str, Any]] = {
        "path": None, "format": None, "columns": None, "dtypes": None, "read_options": None,
        "delimiter": None, "sep": None, "encoding": None,
        "sql": None, "database": None, "dataset": None, "target": None, "task": None,
        "test_size": 0.2, "seed": 0, "stratify": None, "time_column": None,
    }
    inputs = ("path", "database")

    def check(self, config: Mapping[str, Any]) -> None:
        sources = [key for key in ("path", "sql", "dataset") if config.get(key) is not None]
        if len(sources) != 1:
            raise ConfigProblem("path", "give exactly one source: 'path', 'sql' or 'dataset'"
                                f" (found {', '.join(sources) or 'none'})")
        dataset = config.get("dataset")
        if dataset is not None and dataset not in DATASETS:
            raise ConfigProblem("dataset", f"unknown dataset '{dataset}'"
                                f"{did_you_mean(str(dataset), DATASETS)}; shipped datasets: "
                                f"{', '.join(DATASETS)}")
        sql = config.get("sql")
        if sql is not None and not (isinstance(sql, Mapping) and sql.get("url")
                                    and sql.get("query")):
            raise ConfigProblem("sql", "'sql' needs 'url' (an SQLAlchemy URL) and 'query'")
        if dataset is None and not config.get("target"):
            raise ConfigProblem("target", "'target' (the column to predict) is required")
        _check_options(config)

    def outputs(self, stage: str, config: Mapping[str, Any]) -> dict[str, str]:
        return {"train": output_path(stage, "train.parquet"),
                "test": output_path(stage, "test.parquet"),
                "schema": output_path(stage, "schema.json")}

    def display(self, config: Mapping[str, Any]) -> str | None:
        return f"ingest {_source(config)}"

    def versions(self) -> dict[str, str]:
        return {**super().versions(),
                **library_versions("pandas", "pyarrow", "scikit-learn", "sqlalchemy")}

    def run(self, ctx: StageContext) -> StageResult:
        config, stage = ctx.stage.config, ctx.stage.name
        try:
            frame, target = _read(ctx.root, config)
        except DataError as exc:
            raise StageFailed(stage, str(exc).replace(f"{ctx.root}/", "")) from None
        source = _source(config)
        if frame.empty:
            raise StageFailed(stage, f"{source}: no rows")
        if frame[target].isna().any():
            raise StageFailed(stage, f"{source}: target column '{target}' has "
                                     f"{int(frame[target].isna().sum())} missing values")
        task = config.get("task") or infer_task(frame[target])
        train, test = _split(stage, config, frame, target, task)
        outputs = ctx.stage.outputs
        write_table(train, ctx.root / outputs["train"])
        write_table(test, ctx.root / outputs["test"])
        write_json(schema_of(frame, target, task), ctx.root / outputs["schema"])
        return StageResult(f"{len(train)} train / {len(test)} test rows, {task}")


def _check_options(config: Mapping[str, Any]) -> None:
    """ConfigProblem for a bad split or reading option."""
    if config.get("task") not in (None, *TASKS):
        raise ConfigProblem("task", f"'task' must be one of {', '.join(TASKS)}")
    size = config.get("test_size")
    if not isinstance(size, int | float) or isinstance(size, bool) or not 0 < size < 1:
        raise ConfigProblem("test_size", "'test_size' must be a fraction between 0 and 1")
    seed = config.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigProblem("seed", "'seed' must be a whole number")
    if config.get("format") not in (None, *FORMATS):
        raise ConfigProblem("format", f"'format' must be one of {', '.join(FORMATS)}")
    if config.get("stratify") not in (None, True, False):
        raise ConfigProblem("stratify", "'stratify' must be true or false")
    columns = config.get("columns")
    if columns is not None and not (isinstance(columns, list) and columns):
        raise ConfigProblem("columns", "'columns' must be a non-empty list of column names")
    for field in ("dtypes", "read_options"):
        if config.get(field) is not None and not isinstance(config[field], Mapping):
            raise ConfigProblem(field, f"'{field}' must be a mapping")
    time_column = config.get("time_column")
    if time_column is not None and not isinstance(time_column, str):
        raise ConfigProblem("time_column", "'time_column' must be a column name")
    if config.get("stratify") and config.get("time_column"):
        raise ConfigProblem("stratify", "a time split ('time_column') cannot be stratified")
    target = config.get("target") or "target"
    if columns and target not in columns:
        raise ConfigProblem("columns", f"'columns' must include the target '{target}'")
    _check_reading(config)


def _check_reading(config: Mapping[str, Any]) -> None:
    """ConfigProblem for a bad delimiter, encoding or read_options entry."""
    import codecs

    for field in ("delimiter", "sep", "encoding"):
        value = config.get(field)
        if value is not None and not (isinstance(value, str) and value):
            raise ConfigProblem(field, f"'{field}' must be a non-empty string")
    if config.get("encoding"):
        try:
            codecs.lookup(config["encoding"])
        except (LookupError, ValueError):  # ValueError: a NUL in the name
            raise ConfigProblem("encoding", f"unknown encoding '{config['encoding']}'") from None
    options = config.get("read_options") or {}
    for field, names in (("delimiter", ("delimiter", "sep")), ("encoding", ("encoding",))):
        given = [*(n for n in names if config.get(n) is not None),
                 *(f"read_options.{n}" for n in names if n in options)]
        if len(given) > 1:
            raise ConfigProblem(field, f"give the {field} once (found {', '.join(given)})")
    if options.get("on_bad_lines", "error") != "error":
        raise ConfigProblem("read_options", "bad lines are always an error (mlpipe never "
                                            "drops rows); fix or filter the file first")


def _source(config: Mapping[str, Any]) -> str:
    if config.get("sql"):
        return str(config["sql"]["url"])
    return str(config.get("path") or config.get("dataset"))


def _read(root: Path, config: Mapping[str, Any]) -> tuple[pd.DataFrame, str]:
    """The whole table with its declared columns and types, and its target column name."""
    source = _table_source(root, config)
    dtypes = dict(config.get("dtypes") or {})
    if config.get("dataset"):
        frame, target = _dataset(config["dataset"], config.get("target") or "target")
    elif config.get("sql"):
        frame, target = _sql(root, config["sql"]), config["target"]
    else:
        frame, target = read_file(source, dtypes), config["target"]
    columns = [str(c) for c in config.get("columns") or []]
    require_columns(frame, source, [*((c, "columns") for c in columns), (target, "target"),
                                    *((str(c), "dtypes") for c in dtypes)])
    if columns:
        frame = frame[columns]
    frame = apply_dtypes(frame, dtypes, source)
    check_mixed_columns(frame, source, dtypes)
    return frame, target


def _table_source(root: Path, config: Mapping[str, Any]) -> TableSource:
    """How to read the stage's source, and how to name places in it."""
    if not config.get("path"):
        return TableSource(_source(config))
    path = root / config["path"]
    options = dict(config.get("read_options") or {})
    delimiter = (config.get("delimiter") or config.get("sep") or options.pop("delimiter", None)
                 or options.pop("sep", None) or ",")
    return TableSource(name=str(config["path"]), path=path,
                       fmt=table_format(path, config.get("format")),
                       encoding=config.get("encoding") or options.pop("encoding", "utf-8"),
                       delimiter=delimiter, options=options)


def _dataset(name: str, target: str) -> tuple[pd.DataFrame, str]:
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    frame = bunch.frame.rename(columns={"target": target})
    frame.columns = [str(c).replace(" (cm)", "").replace(" ", "_") for c in frame.columns]
    return frame, target


def _sql(root: Path, sql: Mapping[str, Any]) -> pd.DataFrame:
    import pandas as pd
    import sqlalchemy

    url = str(sql["url"])
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        relative = url.removeprefix("sqlite:///").split("?")[0]
        if relative and not (root / relative).is_file():  # sqlite would create an empty one
            raise DataError(f"{url}: database file '{relative}' not found")
        url = f"sqlite:///{root / url.removeprefix('sqlite:///')}"  # relative to the root
    try:
        engine = sqlalchemy.create_engine(url)
        try:
            with engine.connect() as connection:
                return pd.read_sql_query(sqlalchemy.text(str(sql["query"])), connection)
        finally:
            engine.dispose()
    except (sqlalchemy.exc.SQLAlchemyError, pd.errors.DatabaseError, ValueError) as exc:
        cause = exc.__cause__ if isinstance(exc, pd.errors.DatabaseError) and exc.__cause__ \
            else exc
        first = str(getattr(cause, "orig", None) or cause).splitlines()[0]
        raise DataError(f"{sql['url']}: query failed: {first}") from None


def _split(stage: str, config: Mapping[str, Any], frame: pd.DataFrame, target: str, task: str
           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and test: the latest rows by `time_column`, else a seeded (stratified) shuffle."""
    size = float(config["test_size"])
    time_column = config.get("time_column")
    if time_column:
        if time_column not in frame.columns:
            raise StageFailed(stage, f"{_source(config)}: no time column '{time_column}'"
                                     f"{did_you_mean(time_column, map(str, frame.columns))}")
        ordered = frame.sort_values(time_column, kind="stable")
        cut = len(ordered) - max(1, round(len(ordered) * size))
        if cut < 1:
            raise StageFailed(stage, f"cannot split {len(frame)} rows by time")
        return (ordered.iloc[:cut].reset_index(drop=True),
                ordered.iloc[cut:].reset_index(drop=True))
    from sklearn.model_selection import train_test_split

    stratify = config.get("stratify")
    if stratify is None:
        stratify = task == "classification"
    if stratify and task != "classification":
        raise StageFailed(stage, f"stratify needs a classification target; '{target}' is "
                                 "a regression target (set stratify: false)")
    try:
        train, test = train_test_split(frame, test_size=size, random_state=int(config["seed"]),
                                       stratify=frame[target] if stratify else None)
    except ValueError as exc:
        raise StageFailed(stage, f"cannot split {len(frame)} rows: {exc}") from None
    return train.reset_index(drop=True), test.reset_index(drop=True)

"""The `ingest` kind: read a table from a file, SQL or a shipped dataset, split it train/test.

Outputs: `train` and `test` (Parquet) and `schema` (JSON: columns with dtypes, row count,
target, task). Everything is read and checked before anything is written, so a failed ingest
never leaves half-read data behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mlpipe.errors import StageFailed
from mlpipe.kinds import register
from mlpipe.kinds.base import ConfigProblem, StageContext, StageKind, StageResult, output_path
from mlpipe.kinds.dataio import DataError, read_table, write_json, write_table
from mlpipe.kinds.tabular import infer_task, library_versions, schema_of

if TYPE_CHECKING:
    import pandas as pd

DATASETS = ("iris", "wine", "breast_cancer", "diabetes", "digits")
TASKS = ("classification", "regression")


@register
class IngestKind(StageKind):
    """Read one table, declare its target, and split it into train and test."""

    name = "ingest"
    version = "1"
    optional: ClassVar[Mapping[str, Any]] = {
        "path": None, "format": None, "columns": None, "dtypes": None, "read_options": None,
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
            from mlpipe.errors import did_you_mean

            raise ConfigProblem("dataset", f"unknown dataset '{dataset}'"
                                f"{did_you_mean(str(dataset), DATASETS)}; shipped datasets: "
                                f"{', '.join(DATASETS)}")
        sql = config.get("sql")
        if sql is not None and not (isinstance(sql, Mapping) and sql.get("url")
                                    and sql.get("query")):
            raise ConfigProblem("sql", "'sql' needs 'url' (an SQLAlchemy URL) and 'query'")
        if dataset is None and not config.get("target"):
            raise ConfigProblem("target", "'target' (the column to predict) is required")
        if config.get("task") not in (None, *TASKS):
            raise ConfigProblem("task", f"'task' must be one of {', '.join(TASKS)}")
        size = config.get("test_size")
        if not isinstance(size, int | float) or isinstance(size, bool) or not 0 < size < 1:
            raise ConfigProblem("test_size", "'test_size' must be a fraction between 0 and 1")

    def outputs(self, stage: str, config: Mapping[str, Any]) -> dict[str, str]:
        return {"train": output_path(stage, "train.parquet"),
                "test": output_path(stage, "test.parquet"),
                "schema": output_path(stage, "schema.json")}

    def display(self, config: Mapping[str, Any]) -> str | None:
        source = config.get("dataset") or config.get("path") or config["sql"]["url"]
        return f"ingest {source}"

    def versions(self) -> dict[str, str]:
        return {**super().versions(), **library_versions("pandas", "scikit-learn")}

    def run(self, ctx: StageContext) -> StageResult:
        config, stage = ctx.stage.config, ctx.stage.name
        try:
            frame, target = _read(ctx.root, config)
        except DataError as exc:
            raise StageFailed(stage, str(exc)) from None
        if frame.empty:
            raise StageFailed(stage, f"{_source(config)}: no rows")
        if target not in frame.columns:
            from mlpipe.errors import did_you_mean

            raise StageFailed(stage, f"{_source(config)}: no target column '{target}'"
                                     f"{did_you_mean(target, map(str, frame.columns))}")
        if frame[target].isna().any():
            raise StageFailed(stage, f"{_source(config)}: target column '{target}' has "
                                     f"{int(frame[target].isna().sum())} missing values")
        task = config.get("task") or infer_task(frame[target])
        train, test = _split(ctx, frame, target, task)
        outputs = ctx.stage.outputs
        write_table(train, ctx.root / outputs["train"])
        write_table(test, ctx.root / outputs["test"])
        write_json(schema_of(frame, target, task), ctx.root / outputs["schema"])
        return StageResult(f"{len(train)} train / {len(test)} test rows, {task}")


def _source(config: Mapping[str, Any]) -> str:
    return str(config.get("path") or config.get("dataset") or config["sql"]["url"])


def _read(root: Path, config: Mapping[str, Any]) -> tuple[pd.DataFrame, str]:
    """The whole table and its target column name."""
    if config.get("dataset"):
        return _dataset(config["dataset"], config.get("target") or "target")
    if config.get("sql"):
        frame = _sql(root, config["sql"])
    else:
        options = dict(config.get("read_options") or {})
        if config.get("dtypes") and Path(config["path"]).suffix.lower() == ".csv":
            options["dtype"] = dict(config["dtypes"])
        frame = read_table(root / config["path"], config.get("format"), **options)
    columns = config.get("columns")
    if columns:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DataError(f"{_source(config)}: no column {', '.join(map(repr, missing))} "
                            f"(columns: {', '.join(map(str, frame.columns))})")
        frame = frame[list(columns)]
    if config.get("dtypes"):
        try:
            frame = frame.astype(dict(config["dtypes"]))
        except (ValueError, TypeError, KeyError) as exc:
            raise DataError(f"{_source(config)}: dtypes: {exc}") from None
    return frame, config["target"]


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
        url = f"sqlite:///{root / url.removeprefix('sqlite:///')}"  # relative to the root
    try:
        engine = sqlalchemy.create_engine(url)
        with engine.connect() as connection:
            return pd.read_sql_query(sqlalchemy.text(str(sql["query"])), connection)
    except (sqlalchemy.exc.SQLAlchemyError, ValueError) as exc:
        first = str(exc).splitlines()[0]
        raise DataError(f"{sql['url']}: query failed: {first}") from None


def _split(ctx: StageContext, frame: pd.DataFrame, target: str, task: str
           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    config = ctx.stage.config
    size = float(config["test_size"])
    time_column = config.get("time_column")
    if time_column:
        if time_column not in frame.columns:
            raise StageFailed(ctx.stage.name, f"{_source(config)}: no time column "
                                              f"'{time_column}'")
        ordered = frame.sort_values(time_column, kind="stable")
        cut = len(ordered) - max(1, round(len(ordered) * size))
        return ordered.iloc[:cut].reset_index(drop=True), ordered.iloc[cut:].reset_index(
            drop=True)
    from sklearn.model_selection import train_test_split

    stratify = config.get("stratify")
    if stratify is None:
        stratify = task == "classification"
    try:
        train, test = train_test_split(frame, test_size=size, random_state=int(config["seed"]),
                                       stratify=frame[target] if stratify else None)
    except ValueError as exc:
        raise StageFailed(ctx.stage.name, f"cannot split {len(frame)} rows: {exc}") from None
    return train.reset_index(drop=True), test.reset_index(drop=True)

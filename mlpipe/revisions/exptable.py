"""The runs table of `mlpipe exp show` and the comparison of `exp diff`: pure functions over
recorded experiments.

Params columns are the keys any listed experiment overrode; metrics columns are every metric
recorded, named as metricnames.py says. The best
value of each metric is marked: the lowest for losses and errors (`loss`, `rmse`, `mae`, `mse`,
`error`...), the highest otherwise.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlpipe.revisions.metricnames import clashes
from mlpipe.revisions.metricnames import flat as flat_metrics
from mlpipe.state.experiments import Experiment

LOWER_IS_BETTER = ("loss", "rmse", "mae", "mse", "error", "mape", "logloss")
FIXED = ("name", "base", "created")


def lower_is_better(metric: str) -> bool:
    leaf = metric.rsplit(":", 1)[-1].rsplit(".", 1)[-1].lower()
    return any(word in leaf for word in LOWER_IS_BETTER)


@dataclass(frozen=True)
class Table:
    """Rows of cells by column; `best` holds, per metric column, the rows holding its best."""

    params: tuple[str, ...]
    metrics: tuple[str, ...]
    rows: tuple[dict[str, Any], ...]
    best: Mapping[str, frozenset[str]]

    @property
    def columns(self) -> tuple[str, ...]:
        return (*FIXED, *self.params, *self.metrics)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def build(experiments: Sequence[Experiment], sort_by: str | None = None) -> Table:
    """The table for these experiments, sorted by `sort_by` (best first for a metric).

    Raises:
        KeyError: `sort_by` names no column.
    """
    clash = clashes(e.metrics for e in experiments)
    params = tuple(sorted({key for exp in experiments for key in exp.overrides}))
    rows = []
    for exp in experiments:
        row: dict[str, Any] = {"name": exp.name, "base": exp.base[:7],
                               "created": exp.created[:19]}
        row.update({key: exp.params.get(key, exp.overrides.get(key)) for key in params})
        row.update(flat_metrics(exp.metrics, clash))
        rows.append(row)
    metrics = tuple(sorted({k for row in rows for k in row} - set(FIXED) - set(params)))
    best: dict[str, frozenset[str]] = {}
    for metric in metrics:
        values = [row[metric] for row in rows if _number(row.get(metric))]
        if values:
            top = min(values) if lower_is_better(metric) else max(values)
            best[metric] = frozenset(row["name"] for row in rows if row.get(metric) == top)
    if sort_by is not None:
        if sort_by not in (*FIXED, *params, *metrics):
            raise KeyError(sort_by)
        rows = _sorted(rows, sort_by, sort_by in metrics and not lower_is_better(sort_by))
    return Table(params, metrics, tuple(rows), best)


def _sorted(rows: list[dict[str, Any]], column: str, descending: bool) -> list[dict[str, Any]]:
    present = [row for row in rows if row.get(column) is not None]
    absent = [row for row in rows if row.get(column) is None]
    numeric = all(_number(row[column]) for row in present)
    present.sort(key=lambda row: row[column] if numeric else str(row[column]),
                 reverse=descending)
    return present + absent


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return value if isinstance(value, str) else json.dumps(value)


def _marked(table: Table, row: Mapping[str, Any], column: str) -> str:
    text = cell(row.get(column))
    return f"{text}*" if row["name"] in table.best.get(column, ()) else text


def text(table: Table) -> str:
    """Aligned columns; `*` marks each metric's best value."""
    grid = [list(table.columns)] + [[_marked(table, row, c) for c in table.columns]
                                    for row in table.rows]
    widths = [max(len(line[i]) for line in grid) for i in range(len(table.columns))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip()
                     for line in grid)


def markdown(table: Table) -> str:
    """A Markdown table; each metric's best value in bold."""
    def md(row: Mapping[str, Any], column: str) -> str:
        value = cell(row.get(column)).replace("|", "\\|")
        return f"**{value}**" if row["name"] in table.best.get(column, ()) else value

    lines = ["| " + " | ".join(table.columns) + " |",
             "|" + "|".join("---" for _ in table.columns) + "|"]
    lines += ["| " + " | ".join(md(row, c) for c in table.columns) + " |" for row in table.rows]
    return "\n".join(lines)


def as_csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in table.columns])
    return out.getvalue()


def as_json(table: Table) -> str:
    return json.dumps({"params": list(table.params), "metrics": list(table.metrics),
                       "best": {k: sorted(v) for k, v in sorted(table.best.items())},
                       "rows": list(table.rows)}, indent=1, default=str)


@dataclass(frozen=True)
class Difference:
    """One param or metric that two experiments do not share."""

    what: str  # "param" or "metric"
    key: str
    a: Any
    b: Any

    def to_dict(self) -> dict[str, Any]:
        return {"what": self.what, "key": self.key, "a": self.a, "b": self.b}


def diff(a: Experiment, b: Experiment, everything: bool = False) -> list[Difference]:
    """Params, then metrics, whose values differ (all of them with `everything`)."""
    clash = clashes([a.metrics, b.metrics])
    found = []
    for what, left, right in (("param", a.params, b.params),
                              ("metric", flat_metrics(a.metrics, clash),
                               flat_metrics(b.metrics, clash))):
        for key in sorted({*left, *right}):
            if everything or left.get(key) != right.get(key):
                found.append(Difference(what, key, left.get(key), right.get(key)))
    return found

"""Pure comparisons of params and metrics."""

from __future__ import annotations

import math

from mlpipe.revisions.diffs import (
    Change,
    diff_metrics,
    diff_values,
    format_delta,
    format_value,
    markdown,
)
from mlpipe.revisions.snapshot import flatten


def test_flatten_nests_dotted_keys_and_keeps_empty_mappings_as_values() -> None:
    assert flatten({"a": {"b": 1, "c": {"d": 2}}, "e": {}, "f": [1]}) == {
        "a.b": 1, "a.c.d": 2, "e": {}, "f": [1]}


def test_diff_values_reports_changed_added_and_removed_keys_sorted() -> None:
    changes = diff_values({"x": 1, "y": 2, "gone": 3}, {"x": 1, "y": 5, "new": "a"})
    assert [(c.key, c.old, c.new) for c in changes] == [
        ("gone", 3, None), ("new", None, "a"), ("y", 2, 5)]
    assert [c.key for c in diff_values({"x": 1}, {"x": 1}, show_all=True)] == ["x"]
    assert diff_values({"x": 1}, {"x": 1}) == []


def test_delta_only_for_finite_numbers() -> None:
    assert Change("", "k", 1, 3.5).delta == 2.5
    assert Change("", "k", True, False).delta is None
    assert Change("", "k", "a", 2).delta is None
    assert Change("", "k", None, 2).delta is None
    assert Change("", "k", math.nan, 2).delta is None


def test_diff_metrics_per_file() -> None:
    changes = diff_metrics({"a.json": {"acc": 0.5}}, {"a.json": {"acc": 0.6},
                                                     "b.json": {"rmse": 2}})
    assert [(c.path, c.key) for c in changes] == [("a.json", "acc"), ("b.json", "rmse")]


def test_formatting_and_markdown() -> None:
    assert format_value(None) == "-" and format_value(0.123456) == "0.1235"
    assert format_delta(None) == "" and format_delta(-0.5) == "-0.5"
    table = markdown([Change("m.json", "acc", 0.5, 0.75)], with_path=True)
    assert table.splitlines() == ["| Path | Name | Old | New | Change |",
                                  "|---|---|---|---|---|",
                                  "| m.json | `acc` | 0.5 | 0.75 | +0.25 |"]
    assert markdown([], with_path=False).splitlines()[0] == "| Name | Old | New | Change |"

"""Two lock files compared stage by stage (the job summary's "stages this change makes run"),
and the summary's pure rendering."""

from __future__ import annotations

import pytest

from mlpipe.cli import summary
from mlpipe.revisions.lockdiff import changed_stages
from mlpipe.revisions.revs import fetch_hint
from mlpipe.state.lockfile import LockEntry


def _entry(key: str, **fields: object) -> LockEntry:
    base: dict = {"kind": "command", "key": key, "definition": "d", "params": {"a": 1},
                  "deps": {"in.csv": "h1", "src.py": "h2"}, "outs": {"o": "x"}}
    return LockEntry(**{**base, **fields})


def test_changed_stages_say_why_in_status_words() -> None:
    base = {"same": _entry("k0"), "param": _entry("k1"), "deps": _entry("k2"),
            "cmd": _entry("k3"), "gone": _entry("k4")}
    head = {"same": _entry("k0"), "param": _entry("k1b", params={"a": 2, "b": "x"}),
            "deps": _entry("k2b", deps={"in.csv": "h9", "new.csv": "h3"}),
            "cmd": _entry("k3b", definition="d2"), "added": _entry("k5")}
    assert [(c.stage, c.reasons) for c in changed_stages(base, head)] == [
        ("param", ("param a 1 -> 2", "param b (unset) -> 'x'")),
        ("deps", ("dep in.csv changed", "dep new.csv added", "dep src.py removed")),
        ("cmd", ("command changed",)),
        ("added", ("new stage",)),
        ("gone", ("stage removed",)),
    ]


@pytest.mark.parametrize(("rev", "hint"), [
    ("origin/main", "`git fetch --depth=1 origin main`"),
    ("main", "`git fetch --depth=1 origin main`"),
    ("upstream/release-2", "`git fetch --depth=1 upstream release-2`"),
    ("HEAD~1", "`git fetch --deepen=N`"),
    ("HEAD^2", "`git fetch --deepen=N`"),
])
def test_the_shallow_clone_hint_names_what_to_fetch(rev: str, hint: str) -> None:
    assert hint in fetch_hint(rev) and "fetch-depth: 0" in fetch_hint(rev)


@pytest.mark.parametrize(("entry", "text"), [
    ({"gate": "accuracy >= 0.85", "metric": "accuracy", "value": 0.84444, "threshold": 0.85,
      "passed": False}, "`ev`: gate failed: accuracy 0.8444, needs >= 0.85"),
    ({"gate": "loss < 0.2", "metric": "loss", "value": 0.25, "threshold": 0.2,
      "passed": False}, "`ev`: gate failed: loss 0.25, needs < 0.2"),
    ({"gate": "accuracy >= 0.85", "metric": "accuracy", "value": None, "passed": False,
      "message": "gate 'accuracy >= 0.85': no metric 'accuracy'"},
     "`ev`: gate failed: gate 'accuracy >= 0.85': no metric 'accuracy'"),
    ({"check": "max", "passed": False, "message": "column 'x': max 9 > 5"},
     "`ev`: check failed: column 'x': max 9 > 5"),
    ({"gate": "accuracy >= 0.85", "passed": True}, None),
])
def test_failed_checks_and_gates_read_as_failures(entry: dict, text: str | None) -> None:
    assert summary.failure_text("ev", entry) == text


def test_table_cells_are_escaped_and_long_tables_cut() -> None:
    rows = [(f"a|b{i}", "x\ny") for i in range(summary.ROW_LIMIT + 5)]
    text = summary.table(["A", "B"], rows)
    assert text.splitlines()[2] == "| a\\|b0 | x y |"
    assert text.endswith("_5 more rows not shown_")

"""The HTML report's parts: gathering, escaping, the DAG layout, charts, and writing."""

from __future__ import annotations

import itertools
import math
import os
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import write_tree

from mlpipe import api, report
from mlpipe.errors import OutputWriteError
from mlpipe.models.registry import ModelVersion
from mlpipe.report import data, html, svg
from mlpipe.state.history import HistoryRow

HOSTILE_STAGE = "<img src=x onerror=alert(1)>"
HOSTILE_METRIC = "</svg><script>alert('m')</script>"
HOSTILE_TEXT = "\"><iframe src=javascript:alert(2)></iframe>&amp;"


class _Page(HTMLParser):
    """Every tag, every attribute name, and the text, of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.values: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes |= {name for name, _ in attrs}
        self.values += [value or "" for _, value in attrs]

    def handle_data(self, text: str) -> None:
        self.text.append(text)


def parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    return parser


def assert_inert(page: str, *texts: str) -> None:
    """No tag or handler came from the data, and each text shows as text."""
    parsed = parse(page)
    assert not parsed.tags & {"script", "img", "iframe", "object", "embed"}
    assert not [a for a in parsed.attributes if a.startswith("on")]
    shown = "".join(parsed.text)
    for value in texts:
        assert value in shown or value in parsed.values


def hostile_data() -> data.ReportData:
    version = ModelVersion(
        name="m", version=1, digest="a" * 32, meta={}, metrics={HOSTILE_METRIC: 1.0},
        lineage={"git_commit": HOSTILE_TEXT}, gates_passed=True, created_at="now")
    card = {"format": 1, "model": {"name": "m", "version": 1, "digest": "a" * 32,
                                   "created_at": "now", "gates_passed": True},
            "intended_use": HOSTILE_TEXT, "training_data": {"path": HOSTILE_TEXT},
            "features": [{"name": HOSTILE_STAGE, "dtype": "float64"}], "estimator": None,
            "hyperparams": {}, "params": {HOSTILE_METRIC: 1}, "training": {},
            "metrics": {HOSTILE_METRIC: 1.0}, "slices": {}, "gates": [],
            "validation": None, "library_versions": {},
            "lineage": {"git_commit": None, "git_dirty": None, "stage": None, "inputs": {},
                        "stages": {}}}
    return data.ReportData(
        pipeline=HOSTILE_TEXT, description=HOSTILE_TEXT, generated_at="now", head=None,
        stages=(data.StageNode(HOSTILE_STAGE, HOSTILE_TEXT, "failed"),
                data.StageNode("after", "command")),
        edges=((HOSTILE_STAGE, "after"),),
        commits=(data.CommitRuns("abc", HOSTILE_TEXT, 1, False, {"failed": 1},
                                 (HOSTILE_STAGE,)),),
        metrics=(data.MetricSeries(HOSTILE_METRIC, ((HOSTILE_TEXT, 1.0), ("b", 2.0))),),
        validations=(data.ValidationView(HOSTILE_STAGE, "out/r.json", {
            "passed": False, "checks": [{"check": "max", "column": HOSTILE_STAGE,
                                         "observed": HOSTILE_TEXT, "threshold": 1,
                                         "passed": False, "message": HOSTILE_METRIC}]}),),
        models=(data.ModelView("m", (version,), {HOSTILE_TEXT: 1},
                               {HOSTILE_TEXT: ({"version": 1, "set_at": HOSTILE_TEXT,
                                                "rolled_back": False},)}, {1: card}),))


def test_hostile_names_stay_text_everywhere() -> None:
    page = html.render(hostile_data())
    assert_inert(page, HOSTILE_STAGE, HOSTILE_METRIC, HOSTILE_TEXT)
    assert page.count(HOSTILE_STAGE) == 0 and page.count(HOSTILE_METRIC) == 0
    assert page.count("<svg") == page.count("</svg>") == 2  # the DAG and one chart


def test_hostile_names_from_a_real_run(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "make.py": f"import json\njson.dump({{{HOSTILE_METRIC!r}: 0.5}}, open('m.json', 'w'))\n",
        "mlpipe.yaml": f"""\
            description: '{HOSTILE_TEXT}'
            stages:
              '{HOSTILE_STAGE}':
                kind: command
                cmd: {sys.executable} make.py
                deps: [make.py]
                metrics: [m.json]
            """})
    assert api.run(tmp_path / "mlpipe.yaml").ok
    facts = data.gather(tmp_path / "mlpipe.yaml")
    assert [(s.name, s.status) for s in facts.stages] == [(HOSTILE_STAGE, "ran")]
    assert [m.name for m in facts.metrics] == [HOSTILE_METRIC]
    assert_inert(html.render(facts), HOSTILE_STAGE, HOSTILE_METRIC, HOSTILE_TEXT)


def test_a_pipeline_never_run_has_an_empty_report(tmp_path: Path) -> None:
    write_tree(tmp_path, {"mlpipe.yaml": """\
        stages:
          a: {kind: command, cmd: "echo x > data/a.csv", outs: [data/a.csv]}
          b: {kind: command, cmd: "cat data/a.csv > data/b.csv", deps: [data/a.csv],
              outs: [data/b.csv]}
          check: {kind: validate, data: data/b.csv, rows: {min: 1}}
        """})
    facts = data.gather(tmp_path / "mlpipe.yaml")
    assert [(s.name, s.status) for s in facts.stages] == [
        ("a", "never ran"), ("b", "never ran"), ("check", "never ran")]
    assert facts.edges == (("a", "b"), ("b", "check"))
    assert (facts.commits, facts.metrics, facts.models, facts.head) == ((), (), (), None)
    assert facts.validations == (data.ValidationView("check", "out/check/report.json", None),)
    page = html.render(facts)
    for message in ("No runs recorded yet", "No metrics recorded yet.", "No report yet.",
                    "No models registered.", "No models registered, so no cards.",
                    "(no git commit)"):
        assert message in page
    assert page.count('class="node status-none"') == 3
    assert not (tmp_path / ".mlpipe").exists()  # reading created no state


def test_runs_per_commit_groups_runs_newest_first() -> None:
    def row(run: str, stage: str, status: str, commit: str | None,
            dirty: bool = False) -> HistoryRow:
        return HistoryRow(run, "mlpipe.yaml", stage, None, status, "", 0.1, commit, dirty)

    rows = [row("r1", "a", "ran", "c1"), row("r1", "b", "failed", "c1"),
            row("r2", "a", "restored", "c1", dirty=True), row("r3", "a", "ran", "c2")]
    found = data.runs_per_commit(rows, {"c1": "first"})
    assert [(c.commit, c.subject, c.runs, c.dirty) for c in found] == [
        ("c2", "", 1, False), ("c1", "first", 2, True)]
    assert found[1].counts == {"failed": 1, "ran": 1, "restored": 1}
    assert found[1].failed == ("b",)


def test_layers_and_layout_put_each_stage_below_its_parents() -> None:
    names = ["d", "a", "b", "c"]  # file order need not be a dependency order
    edges = [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("a", "d")]
    assert svg.layers(names, edges) == {"a": 0, "b": 1, "c": 1, "d": 2}
    boxes = svg.layout(names, edges, 100)
    assert boxes["b"].y == boxes["c"].y > boxes["a"].y and boxes["d"].y > boxes["b"].y
    assert abs(boxes["b"].x - boxes["c"].x) >= 100  # side by side, not overlapping
    drawing = svg.dag([(n, "command", "ran") for n in names], edges)
    assert drawing.count('class="edge"') == 5 and drawing.count('class="node ') == 4


def test_charts_handle_one_point_flat_lines_and_gaps() -> None:
    one = svg.line_chart("acc", [("c1", 0.5)])
    assert one.count('class="point"') == 1 and 'data-metric="acc"' in one
    flat = svg.line_chart("acc", [("c1", 2.0), ("c2", 2.0), ("c3", math.nan)])
    assert flat.count('class="point"') == 2 and 'class="line"' in flat
    assert "no values" in svg.line_chart("acc", [("c1", math.inf)])


@pytest.mark.parametrize(("low", "high"), [(0.84, 0.93), (-3.0, 120.0), (1e-5, 3e-5)])
def test_ticks_are_round_and_inside_the_range(low: float, high: float) -> None:
    ticks = svg._ticks(low, high)
    assert 2 <= len(ticks) <= 11 and ticks == sorted(ticks)
    assert all(low - 1e-12 <= t <= high + 1e-12 for t in ticks)
    steps = {round(b - a, 12) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1


def test_write_replaces_the_file_whole_with_the_usual_mode(tmp_path: Path) -> None:
    write_tree(tmp_path, {"mlpipe.yaml": "stages:\n  a: {kind: command, cmd: 'true'}\n"})
    out = tmp_path / "site" / "report.html"
    out.parent.mkdir()
    out.write_text("old")
    report.write(tmp_path / "mlpipe.yaml", out)
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in out.parent.iterdir()) == ["report.html"]
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask


def test_write_to_a_directory_is_an_output_error(tmp_path: Path) -> None:
    write_tree(tmp_path, {"mlpipe.yaml": "stages:\n  a: {kind: command, cmd: 'true'}\n"})
    (tmp_path / "site").mkdir()
    with pytest.raises(OutputWriteError,
                       match=r"^cannot write .*site \(.+\); choose another path with -o/--output$"):
        report.write(tmp_path / "mlpipe.yaml", tmp_path / "site")
    assert list((tmp_path / "site").iterdir()) == []

"""`mlpipe report` and `mlpipe models card` on an iris pipeline run at two commits.

One module-wide project: the pipeline runs at commit A (C=1.0), then at commit B (C=0.1),
then once more at B with an edited, uncommitted description (the register stage re-registers
the same model bytes). The report is written once and checked as text and in headless
Chromium.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import Result
from conftest import git, git_init, write_tree
from headless_chromium import visit
from typer.testing import CliRunner

from mlpipe.cli.app import app
from mlpipe.models.card import text
from mlpipe.models.registry import Registry
from mlpipe.state.history import History

DESCRIPTION = "Sort iris flowers into three species; for demonstrations only."
IRIS = f"""\
    name: iris
    description: {DESCRIPTION}
    params:
      model: {{C: 1.0}}
    stages:
      ingest: {{kind: ingest, dataset: iris, target: species, test_size: 0.3, seed: 3}}
      validate:
        kind: validate
        data: ingest.train
        reference: ingest.test
        rows: {{min: 50}}
        expectations:
          petal_length: {{type: float, not_null: true, min: 0, max: 10}}
      train:
        kind: train
        data: ingest.train
        schema: ingest.schema
        estimator: logistic_regression
        hyperparams: {{C: "${{params.model.C}}", max_iter: 300}}
      evaluate:
        kind: evaluate
        model: train.model
        data: ingest.test
        schema: ingest.schema
        slices: [species]
        gates: ["accuracy >= 0.5"]
        plots: false
      register:
        kind: register
        name: iris
        model: train.model
        meta: train.model_meta
        report: evaluate.report
        validation: validate.report
        alias: champion
"""
STAGES = ("ingest", "validate", "train", "evaluate", "register")


def cli(root: Path, *args: str) -> Result:
    """`mlpipe ARGS -f root/mlpipe.yaml`, in process."""
    return CliRunner().invoke(app, [*args, "-f", str(root / "mlpipe.yaml")],
                              catch_exceptions=False)


def commit_pipeline(root: Path, message: str) -> str:
    """Commit only the pipeline file (the lock file stays untracked, runs stay clean)."""
    git(root, "add", "mlpipe.yaml")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


@dataclass(frozen=True)
class Project:
    """The module's project after its three runs."""

    root: Path
    commits: tuple[str, str]
    card_before: dict
    report: Path
    report_output: str


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = tmp_path_factory.mktemp("iris")
    git_init(root)
    write_tree(root, {"mlpipe.yaml": IRIS})
    first = commit_pipeline(root, "C=1.0")
    assert cli(root, "run").exit_code == 0
    pipeline = root / "mlpipe.yaml"
    pipeline.write_text(pipeline.read_text().replace("{C: 1.0}", "{C: 0.1}"))
    second = commit_pipeline(root, "C=0.1")
    assert cli(root, "run").exit_code == 0
    card_before = json.loads(cli(root, "models", "card", "iris@champion", "--json").stdout)
    pipeline.write_text(pipeline.read_text().replace(DESCRIPTION, "Edited afterwards."))
    rerun = cli(root, "run", "--json")
    assert rerun.exit_code == 0
    assert {s["name"]: s["status"] for s in json.loads(rerun.stdout)["stages"]}["register"] == (
        "ran")
    out = tmp_path_factory.mktemp("site") / "report.html"
    result = cli(root, "report", "-o", str(out))
    assert result.exit_code == 0, result.output
    return Project(root, (first, second), card_before, out, result.stdout)


class _Tables(HTMLParser):
    """Cell texts of every table, by the table's class."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._current: list[list[str]] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._current = self.tables.setdefault(dict(attrs).get("class") or "", [])
        elif tag == "tr" and self._current is not None:
            self._current.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._current:
            self._current[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._current = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(page: str) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(page)
    return parser.tables


def evaluate_metrics(root: Path) -> dict[str, dict]:
    """Commit -> the metrics the evaluate stage recorded there (from the run history)."""
    return {row.commit: dict(row.metrics) for row in History(root / ".mlpipe/runs.db").rows()
            if row.stage == "evaluate" and row.status == "ran"}


def test_report_shows_stages_commits_metrics_and_aliases(project: Project) -> None:
    page = project.report.read_text(encoding="utf-8")
    assert f"report written to {project.report}: 5 stages, 2 commits" in project.report_output
    for stage in STAGES:
        assert f'data-stage="{stage}"' in page
    found = tables(page)
    runs = {row[0]: row for row in found["runs"][1:]}
    first, second = project.commits
    assert set(runs) == {first[:8], second[:8]}
    assert runs[first[:8]][1] == "C=1.0" and runs[second[:8]][1] == "C=0.1"
    metrics = evaluate_metrics(project.root)
    assert metrics[first] != metrics[second]  # the param change shows in the metrics
    header, *values = found["metrics"]
    by_commit = {row[0]: dict(zip(header, row, strict=True)) for row in values}
    for sha in (first, second):
        for name, value in metrics[sha].items():
            assert by_commit[sha[:8]][name] == text(value)
            assert f'data-metric="{name}"' in page
    registry = {row[1]: row for row in found["registry"][1:]}
    assert registry["2"][5] == "champion" and registry["1"][5] == "-"
    history = [(row[1], row[2]) for row in found["alias-history"][1:]]
    assert history == [("champion", "1"), ("champion", "2")]
    assert DESCRIPTION in page


def test_validation_report_lists_every_check(project: Project) -> None:
    report = json.loads((project.root / "out/validate/report.json").read_text())
    rows = tables(project.report.read_text(encoding="utf-8"))["checks"][1:]
    assert len(rows) == len(report["checks"])
    assert [r[0] for r in rows] == [c["check"] for c in report["checks"]]
    assert {r[4] for r in rows} == {"pass"}


def test_card_of_the_champion(project: Project) -> None:
    card = json.loads(cli(project.root, "models", "card", "iris@champion", "--json").stdout)
    version = Registry(project.root / ".mlpipe").get("iris@champion")
    assert card["model"]["version"] == version.version == 2
    assert card["intended_use"] == DESCRIPTION
    assert card["training_data"]["hash"] == version.meta["training_data_hash"]
    assert card["training_data"]["path"] == "out/ingest/train.parquet"
    assert [f["name"] for f in card["features"]] == [f["name"] for f in version.meta["features"]]
    assert card["hyperparams"]["C"] == 0.1 and card["params"]["model.C"] == 0.1
    assert card["metrics"] == version.metrics
    assert set(card["slices"]["species"]) == {"0", "1", "2"}
    assert [(g["gate"], g["passed"]) for g in card["gates"]] == [("accuracy >= 0.5", True)]
    validation = json.loads((project.root / "out/validate/report.json").read_text())
    assert card["validation"]["checks"] == len(validation["checks"])
    assert card["lineage"]["git_commit"] == project.commits[1]
    assert card["lineage"]["git_dirty"] is False
    assert set(card["lineage"]["stages"]) == {"ingest", "validate", "train", "evaluate"}
    assert {"scikit-learn", "pandas", "mlpipe"} <= set(card["library_versions"])
    markdown = cli(project.root, "models", "card", "iris@champion").stdout
    assert markdown.startswith("# Model card: iris:2\n")
    assert f"## Intended use\n\n{DESCRIPTION}" in markdown
    assert f"| hash | {version.meta['training_data_hash']} |" in markdown
    assert "| accuracy >= 0.5 |" in markdown


def test_register_writes_the_stored_card_and_keeps_it(project: Project) -> None:
    shown = cli(project.root, "models", "card", "iris:2", "--json").stdout
    assert json.loads(shown) == project.card_before  # the re-registration changed nothing
    from mlpipe.models import card as cardlib

    stored = json.loads(shown)
    assert stored["model"]["created_at"] and stored["lineage"]["git_commit"]
    # the outputs are the stored card without its moment, so a rebuilt commit matches
    portable = cardlib.portable(stored)
    assert "created_at" not in portable["model"] and "git_commit" not in portable["lineage"]
    assert json.loads((project.root / "out/register/card.json").read_text()) == portable
    markdown = (project.root / "out/register/card.md").read_text()
    assert markdown == cardlib.to_markdown(portable)
    assert "Edited afterwards." not in markdown
    assert "Edited afterwards." not in cli(project.root, "models", "card", "iris:2").stdout
    first = json.loads(cli(project.root, "models", "card", "iris:1", "--json").stdout)
    assert first["hyperparams"]["C"] == 1.0 and first["lineage"]["git_commit"] == (
        project.commits[0])


def test_report_renders_in_chromium(project: Project, tmp_path: Path) -> None:
    n_metrics = project.report.read_text(encoding="utf-8").count('<svg class="chart"')
    seen = visit(project.report.as_uri(), {
        "stages": "[...document.querySelectorAll('svg.dag g.node')].map(n => n.dataset.stage)",
        "drawn": "[...document.querySelectorAll('svg.dag g.node rect, svg.chart polyline')]"
                 ".every(e => e.getBBox().width > 0 && e.getBBox().height >= 0)",
        "edges": "document.querySelectorAll('svg.dag path.edge').length",
        "charts": "[...document.querySelectorAll('svg.chart')].map(c => c.dataset.metric)",
        "points": "document.querySelectorAll('svg.chart circle.point').length",
        "registry": "document.querySelectorAll('table.registry tbody tr').length",
        "cards": "document.querySelectorAll('details.card').length",
    }, tmp_path / "profile")
    assert seen.errors == []
    assert seen.requests == [project.report.as_uri()]  # self-contained: nothing else fetched
    assert seen.values["stages"] == list(STAGES)
    assert seen.values["drawn"] is True
    assert seen.values["edges"] == len(json.loads(cli(project.root, "dag", "--json").stdout)[
        "edges"])
    metrics = evaluate_metrics(project.root)
    names = sorted({name for values in metrics.values() for name in values})
    assert seen.values["charts"] == names and n_metrics == len(names)
    assert seen.values["points"] == 2 * len(names)
    assert seen.values["registry"] == 2 and seen.values["cards"] == 2
    shot = tmp_path / "report.png"
    shot.write_bytes(seen.screenshot)
    from PIL import Image

    with Image.open(shot) as image:
        assert image.format == "PNG" and image.width == 1280 and image.height > 1500
        colours = image.convert("RGB").getcolors(maxcolors=image.width * image.height)
        assert len(colours) > 50  # drawn, not a blank page


def test_report_to_an_unwritable_place_is_one_line(project: Project, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = cli(project.root, "report", "-o", str(blocker / "report.html"))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"mlpipe: error: cannot write {blocker / 'report.html'} (")
    assert result.stderr.rstrip().endswith("choose another path with -o/--output")
    assert result.stderr.count("\n") == 1


def test_card_of_a_version_without_one(tmp_path: Path) -> None:
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights")
    Registry(tmp_path / ".mlpipe").register("old", model, {}, {}, {})
    result = cli(tmp_path, "models", "card", "old:1")
    assert result.exit_code == 2
    assert result.stderr == (
        "mlpipe: error: model old:1 has no card (registered before mlpipe kept cards); "
        "register the same model file again (`mlpipe run --force --no-deps STAGE` for its "
        "register stage) to add one\n")

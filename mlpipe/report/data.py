"""The facts an HTML report shows, gathered from what mlpipe already keeps.

The DAG comes from the pipeline file, each stage's last status and the runs per commit from
the run history (`.mlpipe/runs.db`; stages that were up to date leave no row), the metrics per
commit from `mlpipe.revisions.metrics_log` (lock files, then the run history), validation
reports from the work tree (or the store, by the lock file's hash), and the registry with its
cards from `.mlpipe/registry.db`. Nothing here renders; `mlpipe.report.html` does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpipe.errors import MlpipeError
from mlpipe.revisions import metrics_log
from mlpipe.state import lockfile
from mlpipe.state.history import History, HistoryRow
from mlpipe.state.objects import ObjectStore
from mlpipe.state.workspace import Workspace
from mlpipe.vcs import gitinfo

if TYPE_CHECKING:
    from mlpipe.models.registry import ModelVersion

NEVER_RAN = "never ran"


@dataclass(frozen=True)
class StageNode:
    """One stage of the DAG with its last recorded run.

    Attributes:
        name: The stage's name.
        kind: Its kind.
        status: The last run's status (`ran`, `restored`, `failed`) or "never ran".
        duration_s: How long the last run took (None when it never ran).
    """

    name: str
    kind: str
    status: str = NEVER_RAN
    duration_s: float | None = None


@dataclass(frozen=True)
class CommitRuns:
    """The runs recorded at one commit.

    Attributes:
        commit: The commit's sha (None: runs outside a git repository).
        subject: The commit's subject line ("" when unknown).
        runs: How many `mlpipe run`s recorded something at it.
        dirty: Whether any of them ran with a work tree that differed from the commit.
        counts: Stage results by status, e.g. {"ran": 5, "failed": 1}.
        failed: Stages that failed there.
    """

    commit: str | None
    subject: str
    runs: int
    dirty: bool
    counts: Mapping[str, int]
    failed: tuple[str, ...] = ()


@dataclass(frozen=True)
class MetricSeries:
    """One metric over commits, oldest first.

    Attributes:
        name: The metric's name (`file:name` when the pipeline has several metrics files).
        points: (commit label, value) pairs.
    """

    name: str
    points: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class ValidationView:
    """The latest report of one `validate` stage.

    Attributes:
        stage: The stage's name.
        path: Its report output.
        report: The report ({"passed", "checks"}), or None when there is none yet.
    """

    stage: str
    path: str
    report: Mapping[str, Any] | None


@dataclass(frozen=True)
class ModelView:
    """One registered model with its versions, aliases and cards.

    Attributes:
        name: The model's name.
        versions: Its versions, oldest first.
        aliases: Alias -> version now.
        alias_history: Alias -> its changes, oldest first ({version, set_at, rolled_back}).
        cards: Version -> card (versions without a card are absent).
    """

    name: str
    versions: tuple[ModelVersion, ...]
    aliases: Mapping[str, int]
    alias_history: Mapping[str, tuple[Mapping[str, Any], ...]]
    cards: Mapping[int, Mapping[str, Any]]


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows.

    Attributes:
        pipeline: The pipeline's name.
        description: Its top-level `description` (None when absent).
        generated_at: UTC time the facts were gathered, ISO 8601.
        head: The commit HEAD pointed at (None outside git).
        stages: The DAG's nodes in file order.
        edges: (producer, consumer) pairs.
        commits: Runs per commit, newest first.
        metrics: One series per numeric metric, by name.
        validations: One per `validate` stage.
        models: One per registered model, by name.
    """

    pipeline: str
    description: str | None
    generated_at: str
    head: str | None
    stages: tuple[StageNode, ...]
    edges: tuple[tuple[str, str], ...]
    commits: tuple[CommitRuns, ...] = ()
    metrics: tuple[MetricSeries, ...] = ()
    validations: tuple[ValidationView, ...] = ()
    models: tuple[ModelView, ...] = ()


def _description(pipeline_file: Path) -> str | None:
    from mlpipe.spec.yamlio import load_file

    raw = load_file(pipeline_file)
    value = raw.get("description") if isinstance(raw, dict) else None
    return None if value is None else str(value).strip() or None


def runs_per_commit(rows: list[HistoryRow], subjects: Mapping[str, str]) -> list[CommitRuns]:
    """Group history rows by the commit they ran at, newest commit first.

    Args:
        rows: Run history rows, oldest first.
        subjects: Commit sha -> subject line.

    Returns:
        One CommitRuns per commit that has rows.
    """
    by_commit: dict[str | None, list[HistoryRow]] = {}
    for row in rows:
        by_commit.setdefault(row.commit, []).append(row)
    found = []
    for commit, group in by_commit.items():
        counts: dict[str, int] = {}
        for row in group:
            counts[row.status] = counts.get(row.status, 0) + 1
        failed = tuple(dict.fromkeys(r.stage for r in group if r.status == "failed"))
        found.append(CommitRuns(commit, subjects.get(commit or "", ""),
                                len({r.run_id for r in group}), any(r.dirty for r in group),
                                dict(sorted(counts.items())), failed))
    return found[::-1]


def metric_series(rows: list[metrics_log.MetricsRow]) -> list[MetricSeries]:
    """One series per numeric metric over the rows (oldest first), by name."""
    names = sorted({name for row in rows for name, value in row.metrics.items()
                    if isinstance(value, int | float) and not isinstance(value, bool)})
    return [MetricSeries(name, tuple(
        (row.label.split(" ")[0], float(row.metrics[name])) for row in rows
        if isinstance(row.metrics.get(name), int | float)
        and not isinstance(row.metrics.get(name), bool))) for name in names]


def _read_report(root: Path, path: str, digest: str | None, store: ObjectStore
                 ) -> Mapping[str, Any] | None:
    candidates = [root / path] + ([store.path_of(digest)] if digest else [])
    for candidate in candidates:
        try:
            loaded = json.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(loaded, dict) and isinstance(loaded.get("checks"), list):
            return loaded
    return None


def _models(state_dir: Path) -> list[ModelView]:
    from mlpipe.models.cardstore import CardStore
    from mlpipe.models.registry import Registry

    registry, cards = Registry(state_dir), CardStore(state_dir)
    by_name: dict[str, list[ModelVersion]] = {}
    for version in registry.list():
        by_name.setdefault(version.name, []).append(version)
    views = []
    for name, versions in by_name.items():
        aliases = registry.aliases(name)
        history: dict[str, tuple[dict[str, Any], ...]] = {
            alias: tuple(registry.alias_history(name, alias)) for alias in aliases}
        found = {v.version: card for v in versions if (card := cards.get(v)) is not None}
        views.append(ModelView(name, tuple(versions), aliases, history, found))
    return views


def gather(pipeline_file: Path | str | None = None) -> ReportData:
    """Collect the report's facts for a pipeline file (default `./mlpipe.yaml`).

    Args:
        pipeline_file: The pipeline file.

    Returns:
        The facts.

    Raises:
        SpecError: The pipeline file is invalid.
    """
    from mlpipe.core import graph as graphlib
    from mlpipe.spec.parse import load as load_spec

    ws = Workspace.for_file(pipeline_file)
    spec = load_spec(ws.pipeline_file)
    graph = graphlib.build(spec, lambda dep: (ws.root / dep).exists())
    rows = [r for r in History(ws.history_db).rows() if r.pipeline == ws.pipeline_file.name]
    last = {row.stage: row for row in rows}
    stages = tuple(StageNode(s.name, s.kind, last[s.name].status, last[s.name].duration_s)
                   if s.name in last else StageNode(s.name, s.kind) for s in spec)
    subjects = dict(gitinfo.commits(ws.root, None, 1000))
    try:
        per_commit = metrics_log.per_commit(ws.pipeline_file)
    except MlpipeError:  # an older commit's pipeline file that no longer parses
        per_commit = []
    if not per_commit:
        current = metrics_log.current(ws.pipeline_file)
        per_commit = [current] if current.metrics else []
    lock = lockfile.read(ws.lock_file)
    store = ObjectStore(ws.objects_dir)
    validations = tuple(
        ValidationView(s.name, s.outputs["report"], _read_report(
            ws.root, s.outputs["report"], lock[s.name].outs.get(s.outputs["report"])
            if s.name in lock else None, store))
        for s in spec if s.kind == "validate" and "report" in s.outputs)
    return ReportData(
        pipeline=spec.name, description=_description(ws.pipeline_file),
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        head=gitinfo.head_commit(ws.root), stages=stages, edges=tuple(graph.edges),
        commits=tuple(runs_per_commit(rows, subjects)),
        metrics=tuple(metric_series(per_commit)), validations=validations,
        models=tuple(_models(ws.state_dir)))

"""Metrics over commits: from each commit's lock file (through the store) and the run history."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlpipe.revisions import snapshot as revisions
from mlpipe.state.history import History
from mlpipe.state.workspace import Workspace
from mlpipe.vcs import gitinfo


@dataclass(frozen=True)
class MetricsRow:
    """The metrics known for one commit (or the work tree).

    Attributes:
        label: Short commit id and subject, or "workspace".
        commit: Full sha (None for the work tree).
        metrics: Metric name -> value (`file:metric` when the pipeline has several files).
        source: "lock" (the commit's lock file) or "history" (a run at that commit).
    """

    label: str
    commit: str | None
    metrics: dict[str, Any]
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "commit": self.commit, "metrics": self.metrics,
                "source": self.source}


def _flat(by_file: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    if len(by_file) == 1:
        return dict(next(iter(by_file.values())))
    return {f"{path}:{name}": value for path, values in by_file.items()
            for name, value in values.items()}


def current(pipeline_file: Path) -> MetricsRow:
    """The work tree's metrics files."""
    snap = revisions.workspace(pipeline_file)
    return MetricsRow(revisions.WORKSPACE, None, _flat(snap.metrics), "workspace")


def per_commit(pipeline_file: Path, limit: int = 100) -> list[MetricsRow]:
    """One row per commit that has metrics, oldest first.

    A commit's metrics come from its committed lock file when the store still holds them;
    commits without them fall back to the run history (the last run recorded at that commit).
    """
    workspace = Workspace.for_file(pipeline_file)
    history = _history_metrics(workspace)
    rows = []
    for sha, subject in gitinfo.commits(workspace.root, None, limit):
        label = f"{sha[:8]} {subject[:40]}"
        found = {}
        if gitinfo.file_at_rev(workspace.root, sha, workspace.lock_file) is not None:
            found = _flat(revisions.at_rev(workspace.pipeline_file, sha).metrics)
        if found:
            rows.append(MetricsRow(label, sha, found, "lock"))
        elif sha in history:
            rows.append(MetricsRow(label, sha, history[sha], "history"))
    return rows[::-1]


def _history_metrics(workspace: Workspace) -> dict[str, dict[str, Any]]:
    """Commit -> metrics of the latest runs at that commit (clean work trees only)."""
    if not workspace.history_db.exists():
        return {}
    by_commit: dict[str, dict[str, Any]] = {}
    for row in History(workspace.history_db).rows():
        if row.commit and not row.dirty and row.metrics:
            by_commit.setdefault(row.commit, {}).update(revisions.flatten(row.metrics))
    return by_commit


def plot(rows: list[MetricsRow], out: Path) -> None:
    """Draw each numeric metric over the rows' commits as a PNG at `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({n for r in rows for n, v in r.metrics.items()
                    if isinstance(v, int | float) and not isinstance(v, bool)})
    fig, ax = plt.subplots(figsize=(max(4, len(rows) * 0.9), 3.5))
    labels = [r.label.split(" ")[0] for r in rows]
    for name in names:
        ax.plot(labels, [r.metrics.get(name, float("nan")) for r in rows], marker="o", label=name)
    ax.set_xlabel("commit")
    ax.set_title("metrics over commits")
    if names:
        ax.legend(fontsize="small")
    fig.autofmt_xdate()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(out)

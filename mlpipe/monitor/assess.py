"""`mlpipe monitor`'s judgement: has a served model's input drifted, has its quality dropped?

The reference resolves in the pipeline's registry (NAME: the latest version, NAME@ALIAS or
NAME:VERSION). The records come from the prediction logs: every version of NAME for a bare
name, only the resolved version for an alias or a version. Drift compares them with the
resolved version's training data; labels, when given, give live metrics to compare with the
version's recorded metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpipe.errors import UsageError, did_you_mean, one_line
from mlpipe.monitor import checks
from mlpipe.monitor.logs import LogBatch, read_logs

if TYPE_CHECKING:
    import pandas as pd

    from mlpipe.models.registry import ModelVersion
    from mlpipe.state.objects import ObjectStore


@dataclass(frozen=True)
class MonitorOptions:
    """What to monitor, and how.

    Attributes:
        ref: NAME, NAME@ALIAS or NAME:VERSION.
        logs: The prediction log directory.
        since: Only requests answered since then (None: all).
        labels: A labels file (None: no live metrics).
        id_column: The id the labels join on: `request_id` or an input column.
        max_drop: Allowed worsening of a metric (see `checks`).
        metrics: The metrics that decide degradation (default: the task's primary metric).
    """

    ref: str
    logs: Path
    since: datetime | None = None
    labels: Path | None = None
    id_column: str = "request_id"
    max_drop: float = checks.DEFAULT_MAX_DROP
    metrics: tuple[str, ...] = ()


@dataclass(frozen=True)
class DriftResult:
    """Live inputs against the training data.

    Attributes:
        available: Whether the training data could be read.
        reason: Why not, when it could not.
        reference_rows: Rows of the training data.
        digest: Its hash.
        checks: validate's report rows, one per column.
    """

    available: bool
    reason: str = ""
    reference_rows: int = 0
    digest: str | None = None
    checks: tuple[dict[str, Any], ...] = ()

    @property
    def drifted(self) -> list[str]:
        return checks.drifted(self.checks)


@dataclass(frozen=True)
class QualityResult:
    """Live metrics on labelled records against the recorded ones.

    Attributes:
        labelled: Logged records that have a label.
        unmatched: Labels that matched no logged record.
        live: The live metrics.
        checks: One comparison per metric with a recorded value.
    """

    labelled: int
    unmatched: int
    live: dict[str, float]
    checks: tuple[checks.MetricCheck, ...] = field(default=())

    @property
    def degraded(self) -> list[str]:
        return [c.name for c in self.checks if c.degraded]


@dataclass(frozen=True)
class MonitorReport:
    """The outcome of one `mlpipe monitor`.

    Attributes:
        ref: The reference asked for.
        version: The version it resolved to (`name:version`).
        logs: The batch read from the logs.
        since: The start of the window (None: all).
        drift: Drift against the training data.
        quality: Live metrics (None without labels).
    """

    ref: str
    version: str
    logs: LogBatch
    since: datetime | None
    drift: DriftResult
    quality: QualityResult | None

    @property
    def alarm(self) -> bool:
        """Drift or degradation past its threshold."""
        return bool(self.drift.drifted or (self.quality and self.quality.degraded))

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON data."""
        quality = None
        if self.quality is not None:
            quality = {"labelled": self.quality.labelled, "unmatched": self.quality.unmatched,
                       "live": self.quality.live, "degraded": self.quality.degraded,
                       "checks": [{**vars(c), "relative": c.relative,
                                   "degraded": c.degraded}
                                  for c in self.quality.checks]}
        return {
            "model": self.ref, "version": self.version,
            "since": self.since.isoformat() if self.since else None,
            "records": len(self.logs.rows), "requests": self.logs.requests,
            "files": [str(p) for p in self.logs.files], "dropped": self.logs.dropped,
            "partial_lines": self.logs.partial,
            "drift": {"available": self.drift.available, "reason": self.drift.reason or None,
                      "reference_rows": self.drift.reference_rows,
                      "training_data_hash": self.drift.digest,
                      "drifted": self.drift.drifted, "checks": list(self.drift.checks)},
            "quality": quality, "alarm": self.alarm,
        }


def assess(state_dir: Path, options: MonitorOptions) -> MonitorReport:
    """Read the logs of a model and judge drift and (with labels) quality.

    Args:
        state_dir: The pipeline's `.mlpipe` directory (registry and content store).
        options: What to monitor.

    Returns:
        The report; `alarm` says whether a threshold was passed.

    Raises:
        UsageError: Unknown model, no logs or no records, unreadable labels, or nothing to
            compare with (no training data and no labels).
    """
    from mlpipe.models.registry import Registry, parse_ref

    registry = Registry(state_dir)
    version = registry.get(options.ref)
    name, alias, number = parse_ref(options.ref)
    exact = version.version if alias is not None or number is not None else None
    batch = read_logs(options.logs, name, exact, options.since)
    if not batch.rows:
        since = f" since {options.since.isoformat()}" if options.since else ""
        raise UsageError(one_line(
            f"no logged requests for {options.ref} ({version.ref if exact else name}) in "
            f"{options.logs}{since}; serve it with `mlpipe serve {options.ref} "
            f"--log-predictions {options.logs}`"))
    features = _inputs(batch, version)
    drift = _drift(registry.store, version, features)
    quality = (_quality(batch, version, features, options, options.labels)
               if options.labels else None)
    if not drift.available and quality is None:
        raise UsageError(one_line(f"nothing to compare the live records with: {drift.reason}; "
                                  "or give --labels to check live metrics"))
    return MonitorReport(options.ref, version.ref, batch, options.since, drift, quality)


def _inputs(batch: LogBatch, version: ModelVersion) -> pd.DataFrame:
    """The logged input records as a table of the model's features (when it names them)."""
    import pandas as pd

    frame = pd.DataFrame.from_records([row.inputs for row in batch.rows])
    names = [str(f["name"]) for f in version.meta.get("features") or [] if "name" in f]
    return frame[[n for n in names if n in frame.columns]] if names else frame


def _drift(store: ObjectStore, version: ModelVersion, features: pd.DataFrame
           ) -> DriftResult:
    """Drift of the live inputs against the version's training data, when it is there."""
    from mlpipe.monitor.reference import training_data

    training = training_data(store, version)
    if training.frame is None:
        return DriftResult(False, training.reason, digest=training.digest)
    return DriftResult(True, "", len(training.frame), training.digest,
                       tuple(checks.drift(features, training.frame)))


def _quality(batch: LogBatch, version: ModelVersion, features: pd.DataFrame,
             options: MonitorOptions, labels: Path) -> QualityResult:
    """Live metrics of the labelled records against the version's recorded metrics."""
    from mlpipe.monitor.labels import join, read_labels

    _known(options.metrics, sorted(version.metrics), version)
    target = version.meta.get("target")
    if not target:
        raise UsageError(f"{version.ref}'s metadata names no target column, so labels cannot "
                         "be read (register it with meta: train.model_meta)")
    joined = join(batch.rows, read_labels(labels), options.id_column, str(target), labels)
    rows = [batch.rows[i] for i in joined.positions]
    classes = version.meta.get("classes")
    model = checks.replay([r.prediction for r in rows], [r.probabilities for r in rows],
                          classes)
    y = _like(joined.y, classes, labels, str(target))
    task = str(version.meta.get("task") or ("classification" if classes else "regression"))
    live = checks.live_metrics(model, features.iloc[list(joined.positions)], y, task)
    comparable = sorted(n for n in live if n in version.metrics)
    _known(options.metrics, comparable, version)
    primary = checks.PRIMARY.get(task)
    judged = options.metrics or tuple(n for n in (primary,) if n in comparable)
    compared = checks.compare(live, version.metrics, options.max_drop, judged)
    return QualityResult(len(rows), joined.unmatched, live, tuple(compared))


def _known(names: tuple[str, ...], known: list[str], version: ModelVersion) -> None:
    """Raise UsageError for a --metric that is not among `known`."""
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise UsageError(f"--metric {unknown[0]}: {version.ref} has no live and recorded "
                         f"'{unknown[0]}' to compare{did_you_mean(unknown[0], known)} "
                         f"(it has: {', '.join(known) or 'none'})")


def _like(y: pd.Series, classes: list[Any] | None, labels: Path, target: str) -> pd.Series:
    """Labels in the classes' type (a CSV reads `1` as int; a class may be "1" or 1.0).

    Raises:
        UsageError: A label cannot be read as the model's classes (or, without classes, as a
            number).
    """
    try:
        if not classes:
            return y.astype(float)
        if all(isinstance(c, bool) for c in classes):
            return y.astype(bool)
        if all(isinstance(c, int) for c in classes):
            return y.astype(float).astype("int64")
        if all(isinstance(c, str) for c in classes):
            return y.astype(str)
    except (TypeError, ValueError):
        kind = "class labels like " + ", ".join(map(repr, classes[:3])) if classes else "numbers"
        raise UsageError(one_line(f"--labels {labels}: column '{target}' must hold {kind}; "
                                  f"found {y.iloc[0]!r}")) from None
    return y

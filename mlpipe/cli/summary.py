"""The job summary a reviewer reads: GitHub-flavoured Markdown built from values. Pure.

In order: the verdict on the committed lock file, the stages this change makes run (the
pull request's lock file against its base's), failed checks and gates written as failures,
the params and metrics against the base (Old/New/Change), what this run did, and the DAG
with the changed stages marked. Tables stop at `ROW_LIMIT` rows, and whole sections are left
out, last first, to stay under GitHub's 1 MiB limit for one step's summary.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mlpipe.api import StageReport
    from mlpipe.revisions.diffs import Change

SUMMARY_LIMIT = 1024 * 1024  # bytes GitHub keeps of one step's summary
ROW_LIMIT = 300
_OP = re.compile(r"(>=|<=|==|!=|>|<)")


class Mismatch(Protocol):
    """A stage whose recorded result does not match (a lock-gate or lock-diff row)."""

    @property
    def stage(self) -> str: ...

    @property
    def reason(self) -> str: ...


@dataclass(frozen=True)
class Review:
    """Everything the summary of one pipeline shows.

    Attributes:
        name: The pipeline's name.
        lock: The lock file, as shown.
        mismatched: Stages the committed lock file does not match; None when not checked.
        base: The revision compared with (`origin/main`), or None outside a pull request.
        changed: Stages whose lock entry differs from the base's (the change made them run).
        params: Params against the base.
        metrics: Metrics against the base (or the values alone without a base).
        failures: Failed checks and gates, each a sentence.
        stages: This run's stage reports.
        mermaid: The DAG as a Mermaid flowchart, changed stages marked.
        notes: Warnings to show (a base that could not be read...).
    """

    name: str
    lock: str
    mismatched: Sequence[Mismatch] | None
    base: str | None
    changed: Sequence[Mismatch] = ()
    params: Sequence[Change] = ()
    metrics: Sequence[Change] = ()
    failures: Sequence[str] = ()
    stages: Sequence[StageReport] = ()
    mermaid: str = ""
    notes: Sequence[str] = field(default_factory=tuple)


def cell(text: Any) -> str:
    """Text safe inside a table cell."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table; past ROW_LIMIT rows, one line says how many were left out."""
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows[:ROW_LIMIT]]
    if len(rows) > ROW_LIMIT:
        lines += ["", f"_{len(rows) - ROW_LIMIT} more rows not shown_"]
    return "\n".join(lines)


def failure_text(stage: str, entry: Mapping[str, Any]) -> str | None:
    """A failed check or gate as a failure: "accuracy 0.8444, needs >= 0.85"."""
    if entry.get("passed") is not False:
        return None
    gate, value, threshold = entry.get("gate"), entry.get("value"), entry.get("threshold")
    if gate is not None:
        op = _OP.search(str(gate))
        if isinstance(value, int | float) and isinstance(threshold, int | float) and op:
            return (f"`{stage}`: gate failed: {entry.get('metric')} {value:.4g}, needs "
                    f"{op.group(1)} {threshold:.4g}")
        return f"`{stage}`: gate failed: {entry.get('message') or gate}"
    return f"`{stage}`: check failed: {entry.get('message') or entry.get('check')}"


def verdict_text(lock: str, mismatched: Sequence[Mismatch] | None) -> str:
    """The verdict on a committed lock file, with the stages it does not match."""
    if mismatched is None:
        return f"**Lock file:** `{lock}` not checked (no git repository)."
    if not mismatched:
        return (f"**Lock file:** :white_check_mark: `{lock}` matches the pipeline, "
                "params and deps as committed.")
    rows = [(f"`{m.stage}`", m.reason) for m in mismatched]
    return "\n".join([
        f"**Lock file:** :x: `{lock}` does not match the pipeline as committed: run "
        f"`mlpipe run`, then commit `{lock}`.", "", table(["Stage", "Why"], rows)])


def _diff_rows(changes: Sequence[Change], with_path: bool) -> list[list[str]]:
    from mlpipe.revisions.diffs import format_delta, format_value

    return [[*([c.path] if with_path else []), f"`{c.key}`", format_value(c.old),
             format_value(c.new), format_delta(c.delta)] for c in changes]


def sections(review: Review) -> list[str]:
    """The summary's sections, most important first."""
    out = [f"## mlpipe: {review.name}\n\n{verdict_text(review.lock, review.mismatched)}"]
    out += [f"> :warning: {note}" for note in review.notes]
    against = f" (against `{review.base}`)" if review.base else ""
    if review.base is not None:
        changed = [(f"`{c.stage}`", c.reason) for c in review.changed]
        body = (table(["Stage", "Why"], changed) if changed
                else "None: every stage is as on the base.")
        if review.mismatched:
            body = (f"_From the committed `{review.lock}`, which does not match the pipeline: "
                    f"the stages above run too._\n\n{body}")
        out.append(f"### Stages this change makes run{against}\n\n{body}")
    if review.failures:
        out.append("### Failed checks and gates\n\n"
                   + "\n".join(f"- :x: {f}" for f in review.failures[:ROW_LIMIT]))
    if review.base is not None:
        body = (table(["Name", "Old", "New", "Change"], _diff_rows(review.params, False))
                if review.params else "No param changed.")
        out.append(f"### Params{against}\n\n{body}")
    if review.metrics:
        head = ["Path", "Name", "Old", "New", "Change"] if review.base else ["Path", "Name",
                                                                              "Value"]
        values = (_diff_rows(review.metrics, True) if review.base else
                  [[*r[:2], r[3]] for r in _diff_rows(review.metrics, True)])
        out.append(f"### Metrics{against}\n\n{table(head, values)}")
    if review.stages:
        ran = [(f"`{s.name}`", s.status.value, f"{s.duration_s:.2f}s", s.reason)
               for s in review.stages]
        out.append("### This run\n\n" + table(["Stage", "Status", "Time", "Reason"], ran))
    if review.mermaid:
        out.append(f"### Pipeline\n\n```mermaid\n{review.mermaid}\n```")
    return out


def render(review: Review, limit: int = SUMMARY_LIMIT) -> str:
    """The summary as Markdown, under `limit` bytes (later sections dropped when needed)."""
    parts = sections(review)
    text = "\n\n".join(parts) + "\n\n"
    while len(text.encode()) > limit and len(parts) > 1:
        parts.pop()
        text = "\n\n".join(parts) + "\n\n_Sections left out to stay under GitHub's summary " \
            "size limit._\n\n"
    return text if len(text.encode()) <= limit else text.encode()[:limit - 4].decode(
        "utf-8", "ignore") + "\n\n"

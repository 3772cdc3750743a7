"""GitHub Actions output, active when `GITHUB_ACTIONS=true`.

Workflow commands on stdout (`::group::` around each stage's log, `::error file=..,line=..::`
annotations), a Markdown job summary appended to `$GITHUB_STEP_SUMMARY`, and `name=value`
lines appended to `$GITHUB_OUTPUT`. See docs.github.com, "Workflow commands for GitHub Actions".
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpipe.execute.events import Event, StageFinished, Status

if TYPE_CHECKING:
    from mlpipe.api import Loaded, RunReport
    from mlpipe.cli.summary import Mismatch
    from mlpipe.core.planner import Plan
    from mlpipe.errors import MlpipeError
    from mlpipe.revisions.diffs import Change

LOG_LIMIT = 200_000  # characters of one stage's log shown inside its group


def enabled() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, **props: Any) -> str:
    """One workflow command line, e.g. `::error file=a.yaml,line=3::bad`."""
    args = ",".join(f"{k}={_escape_property(str(v))}" for k, v in props.items() if v is not None)
    return f"::{name}{' ' + args if args else ''}::{_escape_data(message)}"


def _relative(path: Path) -> str:
    base = Path(os.environ.get("GITHUB_WORKSPACE") or Path.cwd()).resolve()
    try:
        return path.resolve().relative_to(base).as_posix()
    except ValueError:
        return str(path)


def annotate_error(exc: MlpipeError) -> None:
    """An `::error::` annotation for a failure, pointing at the pipeline file when known."""
    from mlpipe.errors import SpecError

    if isinstance(exc, SpecError) and exc.path is not None:
        message = exc.problem + (f" {exc.hint}" if exc.hint else "")
        if exc.stage:
            message = f"stage '{exc.stage}': {message}"
        print(command("error", message, file=_relative(exc.path), line=exc.line, col=exc.col,
                      title="mlpipe: invalid pipeline"), flush=True)
    else:
        print(command("error", str(exc), title="mlpipe"), flush=True)


class GroupRenderer:
    """Wraps a renderer; prints each finished stage's log in a collapsible group."""

    def __init__(self, inner: Callable[[Event], None], logs_dir: Path) -> None:
        self.inner = inner
        self.logs_dir = logs_dir

    def __call__(self, event: Event) -> None:
        self.inner(event)
        if not isinstance(event, StageFinished) or event.status not in (Status.RAN,
                                                                          Status.FAILED):
            return
        print(f"::group::{event.stage} ({event.status.value} in {event.duration_s:.2f}s)")
        for suffix in ("out", "err"):
            log = self.logs_dir / f"{event.stage}.{suffix}"
            if log.is_file() and log.stat().st_size:
                print(log.read_text(encoding="utf-8", errors="replace")[-LOG_LIMIT:].rstrip())
        print("::endgroup::")
        if event.status is Status.FAILED:
            print(command("error", event.reason, title=f"mlpipe: stage '{event.stage}' failed"))
        sys.stdout.flush()

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close:
            close()


def _append(env: str, text: str) -> None:
    target = os.environ.get(env)
    if target:
        with open(target, "a", encoding="utf-8") as out:
            out.write(text)


def write_outputs(values: Mapping[str, str]) -> None:
    """Append `name=value` lines to $GITHUB_OUTPUT (multi-line values use a delimiter)."""
    lines = []
    for name, value in values.items():
        if "\n" in value:
            lines.append(f"{name}<<MLPIPE_EOF\n{value}\nMLPIPE_EOF\n")
        else:
            lines.append(f"{name}={value}\n")
    _append("GITHUB_OUTPUT", "".join(lines))


def base_rev() -> str | None:
    """The revision a pull request merges into (`origin/<base>`), or None outside one."""
    base = os.environ.get("GITHUB_BASE_REF")
    return f"origin/{base}" if base else None


def status_summary(loaded: Loaded, plan: Plan, verdict: Sequence[Mismatch] | None) -> str:
    """The job summary of `mlpipe status`: the verdict on the committed lock file (in git),
    then what would run in this work tree, and why."""
    from mlpipe.cli.summary import verdict_text

    lines = [f"## mlpipe status: {loaded.spec.name}", ""]
    if verdict is not None:
        lines += [verdict_text(_relative(loaded.workspace.lock_file), verdict), "",
                  "### In this work tree", ""]
    if not plan.stale:
        return "\n".join([*lines, "Everything is up to date.", ""]) + "\n"
    lines += ["| Stage | Action | Reasons |", "|---|---|---|"]
    for d in plan:
        reasons = "; ".join(d.reasons).replace("|", "\\|")
        lines.append(f"| `{d.stage}` | {d.action.value.replace('_', ' ')} | {reasons} |")
    return "\n".join(lines) + "\n"


def write_summary(markdown_text: str) -> None:
    _append("GITHUB_STEP_SUMMARY", markdown_text)


def metrics_json(changes: list[Change]) -> str:
    """Current metrics as one JSON line: {"file": {"metric": value}}."""
    found: dict[str, dict[str, Any]] = {}
    for c in changes:
        if c.new is not None:
            found.setdefault(c.path, {})[c.key] = c.new
    return json.dumps(found, sort_keys=True)


def failed_checks(loaded: Loaded) -> list[str]:
    """Failed validation checks and evaluation gates, from stages' `report` outputs, each
    written as a failure (`accuracy 0.8444, needs >= 0.85`)."""
    from mlpipe.cli.summary import failure_text

    problems = []
    for stage in loaded.spec.stages:
        path = stage.outputs.get("report")
        if path is None:
            continue
        try:
            report = json.loads((loaded.workspace.root / path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(report, Mapping):
            continue
        for entry in [*report.get("checks", []), *report.get("gates", [])]:
            text = failure_text(stage.name, entry) if isinstance(entry, Mapping) else None
            if text is not None:
                problems.append(text)
    return problems


def lock_verdict(file: Path) -> tuple[Mismatch, ...] | None:
    """The stages the committed lock file does not match (read before a run rewrites it);
    None outside a git repository."""
    from mlpipe.api import staged
    from mlpipe.vcs import gitinfo

    if gitinfo.repo_root(file.absolute().parent) is None:
        return None
    return staged.lock_gate(file)


def report_run(file: Path, report: RunReport, overrides: tuple[str, ...],
               verdict: tuple[Mismatch, ...] | None) -> None:
    """Write the job summary and step outputs of a finished run."""
    from mlpipe import api
    from mlpipe.api import fetch
    from mlpipe.cli import summary
    from mlpipe.cli.dag import to_mermaid
    from mlpipe.errors import MlpipeError
    from mlpipe.revisions import diffs
    from mlpipe.revisions import snapshot as revisions

    loaded = api.load(file, overrides)
    now = revisions.workspace(file)
    base, notes = base_rev(), list[str]()
    old, changed, params = revisions.Snapshot("", None, {}), [], []
    if base is not None:
        try:
            old = revisions.at_rev(file, base, fetch.objects)
            changed = _changed_stages(file, base, [s.name for s in loaded.graph.order()])
            params = diffs.diff_values(old.params, now.params)
            notes += old.unavailable
        except MlpipeError as exc:
            print(command("warning", f"nothing to compare with: {exc}", title="mlpipe"))
            notes.append(f"nothing to compare with: {exc}")
            base = None
    changes = diffs.diff_metrics(old.metrics, now.metrics, show_all=True)
    marked = {c.stage for c in changed} | {s.name for s in report.stages
                                           if s.status is Status.RAN}
    review = summary.Review(
        name=loaded.spec.name, lock=_relative(loaded.workspace.lock_file), mismatched=verdict,
        base=base, changed=changed, params=params, metrics=changes,
        failures=failed_checks(loaded), stages=report.stages,
        mermaid=to_mermaid(loaded.graph, marked), notes=notes)
    write_summary(summary.render(review))
    ran = [s.name for s in report.stages if s.status is Status.RAN]
    write_outputs({"ok": str(report.ok).lower(), "stages-run": ",".join(ran),
                   "metrics": metrics_json(changes),
                   "lock-matches": str(not verdict).lower()})


def _changed_stages(file: Path, base: str, order: list[str]) -> list[Mismatch]:
    """Stages whose entry in HEAD's committed lock file differs from the base's, in run
    `order` (stages the base has and HEAD dropped last)."""
    from mlpipe.revisions import lockdiff, snapshot
    from mlpipe.revisions.revs import commit_of

    file = file.absolute()
    head = snapshot.lock_at(file, commit_of(file.parent, "HEAD"), "HEAD")
    changed = lockdiff.changed_stages(
        snapshot.lock_at(file, commit_of(file.parent, base), base), head)
    rank = {name: i for i, name in enumerate(order)}
    return sorted(changed, key=lambda c: rank.get(c.stage, len(rank)))

"""Turning events, reports and plans into terminal text, plain lines or JSON.

Live mode (a rich table redrawn as stages progress) is used on a terminal; plain mode, one
line per event, when stdout is not a terminal or NO_COLOR or CI is set. Plain mode writes
through `Lines` and never imports rich, which keeps a no-op run in a pipe or a hook fast.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from mlpipe.execute.events import Event, Notice, RunStarted, StageFinished, StageStarted, Status

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from mlpipe.api import RunReport
    from mlpipe.api.staged import StagedCheck
    from mlpipe.core.planner import Plan

_STYLE = {"waiting": "dim", "running": "yellow", "restoring": "cyan", "cached": "green",
          "restored": "cyan", "ran": "bold green", "failed": "bold red", "skipped": "magenta"}


class Out(Protocol):
    """What the renderers print through: a rich Console, or `Lines`."""

    def print(self, text: str, *, style: str | None = None, markup: bool = True) -> None: ...


class Renderer(Protocol):
    """What shows a run's progress: told every event, closed once at the end."""

    def __call__(self, event: Event) -> None: ...

    def close(self) -> None: ...


class Lines:
    """Plain text lines on a stream; styles are dropped."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def print(self, text: str, *, style: str | None = None, markup: bool = True) -> None:
        self.stream.write(f"{text}\n")
        self.stream.flush()


def _plain_env() -> bool:
    return "NO_COLOR" in os.environ or os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def plain_wanted(console: Console) -> bool:
    return not console.is_terminal or _plain_env()


def _plain_stream(stream: TextIO) -> bool:
    if "FORCE_COLOR" in os.environ and not _plain_env():
        return False
    return not stream.isatty() or _plain_env()


def stdout_console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def stdout_out() -> Out:
    """Where run and status print: `Lines` in a pipe, log or CI; a rich Console on a terminal."""
    return Lines(sys.stdout) if _plain_stream(sys.stdout) else stdout_console()


def stderr_out() -> Out:
    """Like `stdout_out`, for stderr."""
    return Lines(sys.stderr) if _plain_stream(sys.stderr) else stderr_console()


def _tail(text: str) -> str:
    return "\n".join(f"    | {line}" for line in text.splitlines())


class PlainRenderer:
    """One line per event, for logs and pipes."""

    def __init__(self, console: Out) -> None:
        self.console = console

    def __call__(self, event: Event) -> None:
        out = self.console
        if isinstance(event, StageStarted):
            why = f" ({event.reason})" if event.reason else ""
            out.print(f"{event.stage}: {event.activity}{why}", markup=False)
        elif isinstance(event, StageFinished):
            took = f" in {event.duration_s:.2f}s" if event.status in (Status.RAN, Status.FAILED,
                                                                      Status.RESTORED) else ""
            shown = event.status in (Status.FAILED, Status.SKIPPED) or (
                event.status is Status.CACHED and event.reason != "up to date")
            why = f": {event.reason}" if shown else ""
            out.print(f"{event.stage}: {event.status.value}{took}{why}", markup=False)
            if event.stderr_tail:
                out.print(_tail(event.stderr_tail), markup=False)
            if event.warning:
                out.print(f"{event.stage}: warning: {event.warning}", markup=False)
        elif isinstance(event, Notice):
            out.print(f"warning: {event.message}", markup=False)

    def close(self) -> None:
        """Nothing to tear down."""


class LiveRenderer:
    """A table with a line per stage, redrawn as events arrive."""

    def __init__(self, console: Console) -> None:
        from rich.live import Live

        self.console = console
        self.rows: dict[str, dict[str, Any]] = {}
        self.notes: list[str] = []
        self.live = Live(console=console, refresh_per_second=8, transient=False,
                         get_renderable=self._table)

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.rows = {name: {"state": "waiting", "reason": "", "started": None, "took": None}
                         for name in event.stages}
            self.live.start()
        elif isinstance(event, StageStarted):
            self.rows[event.stage].update(state=event.activity, reason=event.reason,
                                          started=time.perf_counter())
        elif isinstance(event, StageFinished):
            self.rows[event.stage].update(state=event.status.value, reason=event.reason,
                                          took=event.duration_s)
            if event.stderr_tail:
                self.notes.append(f"{event.stage} (stderr):\n{_tail(event.stderr_tail)}")
            if event.warning:
                self.notes.append(f"{event.stage}: warning: {event.warning}")
        elif isinstance(event, Notice):
            self.notes.append(f"warning: {event.message}")
        self.live.refresh()

    def _table(self) -> Table:
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, show_header=False, pad_edge=False)
        for name, row in self.rows.items():
            took = row["took"]
            if took is None and row["started"] is not None:
                took = time.perf_counter() - row["started"]
            table.add_row(Text(name, style="bold"), Text(row["state"], style=_STYLE.get(
                row["state"], "")), f"{took:.1f}s" if took is not None else "",
                Text(row["reason"], style="dim"))
        return table

    def close(self) -> None:
        if self.live.is_started:
            self.live.stop()
        for note in self.notes:
            self.console.print(note, markup=False, highlight=False)


def report_json(report: RunReport) -> str:
    return json.dumps({
        "stages": [{"name": s.name, "status": s.status.value, "reason": s.reason,
                    "duration_s": s.duration_s} for s in report.stages],
        "ok": report.ok,
    }, indent=2)


def summary_line(report: RunReport) -> str:
    counts: dict[str, int] = {}
    for stage in report.stages:
        counts[stage.status.value] = counts.get(stage.status.value, 0) + 1
    parts = [f"{n} {status}" for status, n in counts.items()]
    return ", ".join(parts) if parts else "no stages selected"


def plan_json(plan: Plan) -> str:
    return json.dumps({
        "stages": [{"name": d.stage, "action": d.action.value,
                    "stale": d.action.value != "up_to_date", "reasons": list(d.reasons)}
                   for d in plan],
        "stale": bool(plan.stale),
    }, indent=2)


def plan_text(plan: Plan, console: Out) -> None:
    if not plan.stale:
        console.print("Everything is up to date.", style="green")
        return
    words = {"run": "will run", "restore": "will restore", "up_to_date": "up to date"}
    for decision in plan:
        action = decision.action.value
        if action == "up_to_date":
            console.print(f"{decision.stage}: up to date", style="dim", markup=False)
            continue
        console.print(f"{decision.stage}: {words[action]}", style=_STYLE["running"],
                      markup=False)
        for reason in decision.reasons:
            console.print(f"    {reason}", markup=False)


def staged_text(check: StagedCheck, console: Out) -> None:
    """The pre-commit verdict on one staged pipeline file, with the next step."""
    if not check.staged:
        console.print(f"mlpipe: {check.pipeline} is not in the index; not checked "
                      "(mlpipe hooks install again to update the hooks)", markup=False)
    elif check.error:
        console.print(f"mlpipe: error: {check.error}", markup=False)
    elif check.mismatched:
        console.print(f"mlpipe: the staged {check.lock} does not match the staged "
                      f"{check.pipeline}, params and deps:", markup=False)
        for decision in check.mismatched:
            console.print(f"    {decision.stage}: {decision.reason}", markup=False)
        console.print(f"next: mlpipe run -f {check.pipeline}, then git add {check.lock}",
                      markup=False)


def progress_renderer(console: Out) -> PlainRenderer | LiveRenderer:
    """Live table on a terminal, plain lines otherwise."""
    if isinstance(console, Lines) or plain_wanted(console):  # type: ignore[arg-type]
        return PlainRenderer(console)
    return LiveRenderer(console)  # type: ignore[arg-type]

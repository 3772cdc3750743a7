"""`mlpipe monitor NAME[@ALIAS]`: has a served model's input drifted, has its quality dropped?"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlpipe.cli import options as opt
from mlpipe.errors import EXIT_DRIFT, EXIT_OK
from mlpipe.monitor.checks import DEFAULT_MAX_DROP
from mlpipe.state.workspace import DEFAULT_FILE, Workspace

if TYPE_CHECKING:
    from mlpipe.monitor.assess import MonitorReport
    from mlpipe.monitor.retrain import RetrainOutcome

LOGS_DIR = "predictions"  # under the pipeline's .mlpipe/

Ref = Annotated[str, typer.Argument(
    help="NAME (every logged version; the latest one's training data and metrics), "
         "NAME@ALIAS or NAME:VERSION (that version only).", show_default=False)]
Logs = Annotated[Path | None, typer.Option(
    "--logs", file_okay=False, show_default=False,
    help="The directory `mlpipe serve --log-predictions` writes [default: .mlpipe/predictions "
         "beside the pipeline file].")]
Since = Annotated[str | None, typer.Option(
    "--since", show_default=False,
    help="Only requests since then: an ISO time (UTC unless it has an offset) or a duration "
         "back from now (30m, 24h, 7d).")]
Labels = Annotated[Path | None, typer.Option(
    "--labels", dir_okay=False, show_default=False,
    help="Labels collected since (CSV, Parquet or JSON lines) with the id column and the "
         "model's target: live metrics against the version's recorded ones.")]
IdColumn = Annotated[str, typer.Option(
    "--id-column", help="The column the labels join on: request_id (X-Request-ID; add a 'row' "
                        "column for requests of several records) or an input column.")]
MaxDrop = Annotated[float, typer.Option(
    "--max-drop", min=0.0, help="Degraded when a metric is worse than recorded by more than "
                                "this: absolute for scores, a fraction for rmse, mae, log_loss.")]
Metrics = Annotated[list[str] | None, typer.Option(
    "--metric", show_default=False,
    help="A metric that decides degradation (repeatable) [default: accuracy, or rmse for "
         "regression]; every other recorded metric is shown only.")]
Trigger = Annotated[bool, typer.Option(
    "--trigger", help="On drift or degradation, run the pipeline (-f): its evaluation gate "
                      "decides whether the retrained model replaces the one monitored.")]


def monitor(ref: Ref, file: opt.PipelineFile = Path(DEFAULT_FILE), logs: Logs = None,
            since: Since = None, labels: Labels = None, id_column: IdColumn = "request_id",
            max_drop: MaxDrop = DEFAULT_MAX_DROP, metric: Metrics = None,
            trigger: Trigger = False, as_json: opt.Json = False) -> None:
    """Compare what a served model saw with its training data, and (with --labels) its
    live metrics with its recorded ones.

    Drift uses validate's tests and thresholds (KS for numbers, chi-square otherwise, p < 0.05).
    Exit codes: 0 no drift or degradation; 3 drift or degradation; 2 usage (no logs, unknown
    model, bad labels). With --trigger, after an alarm: 0 the retrained model replaced the
    monitored one; 3 the run succeeded but the reference names the same version; 1 the run
    failed (e.g. the evaluation gate stopped the new model).
    """
    from mlpipe.monitor.assess import MonitorOptions, assess
    from mlpipe.monitor.logs import parse_since

    workspace = Workspace.for_file(file)
    options = MonitorOptions(ref, logs or workspace.state_dir / LOGS_DIR,
                             parse_since(since) if since else None, labels, id_column,
                             max_drop, tuple(metric or ()))
    report = assess(workspace.state_dir, options)
    if not as_json:
        for line in report_lines(report):
            typer.echo(line)
    outcome = _retrain(file, report, as_json) if trigger and report.alarm else None
    if as_json:
        typer.echo(json.dumps({**report.to_json(), "trigger": outcome and outcome.to_json()},
                              indent=2, default=str))
    elif outcome is not None:
        typer.echo(outcome.summary(ref))
    elif trigger:
        typer.echo("no drift or degradation: the pipeline was not run")
    code = outcome.exit_code if outcome is not None else (EXIT_DRIFT if report.alarm
                                                          else EXIT_OK)
    if code:
        raise typer.Exit(code)


def _retrain(file: Path, report: MonitorReport, as_json: bool) -> RetrainOutcome:
    """Run the pipeline, then see which version the reference names."""
    from mlpipe import api
    from mlpipe.cli import render
    from mlpipe.models.registry import Registry, RegistryError
    from mlpipe.monitor.retrain import outcome

    progress = (render.PlainRenderer(render.stderr_out()) if as_json
                else render.progress_renderer(render.stdout_out()))
    try:
        run = api.run(file, api.RunOptions(), progress)
    finally:
        progress.close()
    try:
        after: str | None = Registry(Workspace.for_file(file).state_dir).get(report.ref).ref
    except RegistryError:
        after = None
    return outcome(((s.name, s.status.value) for s in run.stages), report.version, after)


def _table(rows: list[list[str]]) -> Iterator[str]:
    """Rows as left-aligned columns, indented by two spaces."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        yield "  " + "  ".join(cell.ljust(width) for cell, width in
                               zip(row, widths, strict=True)).rstrip()


def _number(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _statistic(check: str, value: object) -> str:
    """A test's value: `p=...` for KS and chi-square (whose report rounds to 6 places), or
    the PSI."""
    if check.endswith("psi") or not isinstance(value, int | float):
        return _number(value)
    return "p<1e-06" if value == 0 else f"p={value:.4g}"


def report_lines(report: MonitorReport) -> Iterator[str]:
    """The report as text: the records read, a drift table, a metrics table, the verdict."""
    logs = report.logs
    since = f" since {report.since.isoformat(timespec='seconds')}" if report.since else ""
    extra = "".join([f", {logs.dropped} dropped by the server" if logs.dropped else "",
                     f", {logs.partial} cut-short line(s) skipped" if logs.partial else ""])
    yield (f"{report.ref} ({report.version}): {len(logs.rows)} records in {logs.requests} "
           f"requests{since} from {len(logs.files)} file(s){extra}")
    drift = report.drift
    if not drift.available:
        yield f"drift: not checked: {drift.reason}"
    else:
        yield (f"drift against the training data ({drift.reference_rows} rows, hash "
               f"{(drift.digest or '')[:12]}):")
        rows = [["column", "test", "value", "threshold", "result"]]
        rows += [[str(c["column"]), str(c["check"]).removeprefix("drift_"),
                  _statistic(str(c["check"]), c["observed"]), _number(c["threshold"]),
                  "ok" if c["passed"] else "DRIFT"] for c in drift.checks]
        yield from _table(rows)
    quality = report.quality
    if quality is not None:
        unmatched = (f" ({quality.unmatched} label(s) matched no record)"
                     if quality.unmatched else "")
        yield f"live metrics on {quality.labelled} labelled records{unmatched}:"
        rows = [["metric", "live", "recorded", "worse by", "limit", "result"]]
        for c in quality.checks:
            shown = (f"{c.worse_by:.1%}", f"{c.limit:.1%}") if c.relative else (
                f"{c.worse_by:.4f}", f"{c.limit:g}")
            result = ("DEGRADED" if c.degraded else "ok") if c.judged else "(shown only)"
            rows.append([c.name, f"{c.live:.4f}", f"{c.recorded:.4f}", *shown, result])
        if len(rows) > 1:
            yield from _table(rows)
        else:
            yield "  no recorded metric to compare with"
    problems = [f"drift in {', '.join(drift.drifted)}"] if drift.drifted else []
    if quality is not None and quality.degraded:
        problems.append(f"degraded: {', '.join(quality.degraded)}")
    yield f"ALARM: {'; '.join(problems)}" if problems else "ok: no drift or degradation"


def register(app: typer.Typer) -> None:
    """Add `monitor` to the CLI."""
    app.command("monitor")(monitor)

"""`mlpipe run`: bring the outputs up to date."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlpipe.cli import options as opt
from mlpipe.cli.transfer import Remote, summary
from mlpipe.state.workspace import DEFAULT_FILE

if TYPE_CHECKING:
    from mlpipe.api import RunReport


def run(
    targets: opt.Targets = None,
    file: opt.PipelineFile = Path(DEFAULT_FILE),
    force: opt.Force = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan; run nothing.")] = False,
    downstream: opt.Downstream = False,
    no_deps: opt.NoDeps = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1,
                                      help="Independent stages run at once.")] = 1,
    keep_going: Annotated[bool, typer.Option(
        "--keep-going", help="After a failure, run what does not depend on it.")] = False,
    executor: Annotated[str | None, typer.Option(
        "--executor", help="local (default; -j N processes) or dask (a dask cluster); "
                           "overrides the file's 'executor:'.")] = None,
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", help="Dask scheduler address (tcp://HOST:PORT); without it, "
                            "--executor dask starts a local cluster for the run.")] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, help="Worker processes of that local cluster (default: cores).")
    ] = None,
    pull: Annotated[bool, typer.Option(
        "--pull", help="First pull from the remote what the lock file needs, and look stage "
                       "keys up there before running a stage.")] = False,
    push: Annotated[bool, typer.Option(
        "--push", help="Afterwards push to the remote what the stages that ran or were "
                       "restored need.")] = False,
    remote: Remote = None,
    worker_files: Annotated[str | None, typer.Option(
        "--worker-files", help="How dask workers get a stage's files: shared (default; the "
                               "project at the same path on every worker) or remote (a "
                               "scratch directory; files travel through the remote).")] = None,
    overrides: opt.Overrides = None,
    as_json: opt.Json = False,
) -> None:
    """Run the stages whose deps, params or definition changed; restore what was seen before.

    Exit codes: 0 all succeeded, 1 a stage failed, 2 invalid pipeline or usage.
    """
    from mlpipe import api
    from mlpipe.cli import github, render
    from mlpipe.execute.events import FailurePolicy
    from mlpipe.state.workspace import Workspace

    selection = api.Selection(tuple(targets or ()), downstream, no_deps)
    console = render.stdout_out()
    if dry_run:
        plan = api.status(file, selection, tuple(overrides or ()), force=force)
        if as_json:
            typer.echo(render.plan_json(plan))
        else:
            render.plan_text(plan, console)
        return
    policy = FailurePolicy.KEEP_GOING if keep_going else FailurePolicy.FAIL_FAST
    options = api.RunOptions(selection=selection, force=force, jobs=jobs, policy=policy,
                             overrides=tuple(overrides or ()), executor=executor,
                             scheduler=scheduler, workers=workers, pull=pull, push=push,
                             remote=remote, worker_files=worker_files)
    progress: render.Renderer = (render.PlainRenderer(render.stderr_out()) if as_json
                                  else render.progress_renderer(console))
    verdict = None
    if github.enabled():
        progress = github.GroupRenderer(progress, Workspace.for_file(file).logs_dir)
        verdict = github.lock_verdict(file)
    try:
        report = api.run(file, options, progress)
    finally:
        progress.close()
    if as_json:
        typer.echo(render.report_json(report))
    else:
        console.print(render.summary_line(report), markup=False)
    if github.enabled():
        github.report_run(file, report, options.overrides, verdict)
    _transfers(report, as_json)
    if not report.ok:
        raise typer.Exit(1)


def _transfers(report: RunReport, as_json: bool) -> None:
    """Summaries of `--pull` and `--push` (on stderr with --json); a failed push fails.

    Raises:
        RemoteError: The push left something behind.
    """
    from mlpipe.remote.link import failure_error

    for result in (report.pulled, report.pushed):
        if result is not None and result.reached:
            typer.echo(summary(result), err=as_json)
    if report.pushed is not None and not report.pushed.ok:
        for failure in report.pushed.failures if report.pushed.reached else ():
            typer.echo(f"failed: {failure}", err=True)
        raise failure_error(report.pushed)


def register(app: typer.Typer) -> None:
    app.command("run")(run)

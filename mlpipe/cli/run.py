"""`mlpipe run`: bring the outputs up to date."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlpipe.cli import options as opt
from mlpipe.workspace import DEFAULT_FILE


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
    overrides: opt.Overrides = None,
    as_json: opt.Json = False,
) -> None:
    """Run the stages whose deps, params or definition changed; restore what was seen before.

    Exit codes: 0 all succeeded, 1 a stage failed, 2 invalid pipeline or usage.
    """
    from mlpipe import api
    from mlpipe.cli import github, render
    from mlpipe.execute.events import FailurePolicy
    from mlpipe.workspace import Workspace

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
                             overrides=tuple(overrides or ()))
    progress = (render.PlainRenderer(render.stderr_out()) if as_json
                else render.progress_renderer(console))
    if github.enabled():
        progress = github.GroupRenderer(progress, Workspace.for_file(file).logs_dir)
    try:
        report = api.run(file, options, progress)
    finally:
        progress.close()
    if as_json:
        typer.echo(render.report_json(report))
    else:
        console.print(render.summary_line(report), markup=False)
    if github.enabled():
        github.report_run(file, report, options.overrides)
    if not report.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("run")(run)

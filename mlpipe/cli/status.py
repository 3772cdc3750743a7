"""`mlpipe status`: which stages would run, and why."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlpipe.cli import options as opt
from mlpipe.errors import EXIT_STALE, UsageError
from mlpipe.state.workspace import DEFAULT_FILE


def status(
    targets: opt.Targets = None,
    file: opt.PipelineFile = Path(DEFAULT_FILE),
    downstream: opt.Downstream = False,
    no_deps: opt.NoDeps = False,
    overrides: opt.Overrides = None,
    fail_if_stale: Annotated[bool, typer.Option(
        "--fail-if-stale", help="Exit with code 3 when a stage would run.")] = False,
    rev: Annotated[str | None, typer.Option(
        "--rev", help="What would run if the work tree were at this git revision.",
        show_default=False)] = None,
    as_json: opt.Json = False,
    lock: Annotated[bool, typer.Option(
        "--lock", help="Check only that the lock file matches the pipeline file, params and "
        "dep content (no data needed); exit 3 when it does not.")] = False,
) -> None:
    """Show which stages are stale and why. Exit 0, or 3 with --fail-if-stale when stale."""
    from mlpipe import api
    from mlpipe.cli import render

    if lock:
        if targets or downstream or no_deps or overrides or rev or fail_if_stale:
            raise UsageError("--lock checks the whole pipeline as committed: it takes no "
                             "targets, --downstream, --no-deps, -S, --rev or --fail-if-stale")
        _lock_gate(file, as_json)
        return
    err = render.stderr_out()
    if rev is not None:
        if targets or downstream or no_deps or overrides:
            raise UsageError("--rev takes no targets, --downstream, --no-deps or -S")
        from mlpipe.api.reproduce import status_at

        plan = status_at(file, rev)
    else:
        plan = api.status(file, api.Selection(tuple(targets or ()), downstream, no_deps),
                          tuple(overrides or ()), on_event=render.PlainRenderer(err))
        from mlpipe.api import data

        for change in data.changes(file):
            typer.echo(str(change), err=as_json)
    if as_json:
        typer.echo(render.plan_json(plan))
    else:
        render.plan_text(plan, render.stdout_out())
    from mlpipe.cli import github

    if github.enabled() and rev is None:
        verdict = github.lock_verdict(file)  # in git, stale means: the lock does not match
        github.write_summary(github.status_summary(api.load(file, tuple(overrides or ())), plan,
                                                   verdict))
        stale = [d.stage for d in (plan.stale if verdict is None else verdict)]
        github.write_outputs({"stale": str(bool(stale)).lower(),
                              "stages-stale": ",".join(stale)})
    if fail_if_stale and plan.stale:
        raise typer.Exit(EXIT_STALE)


def _lock_gate(file: Path, as_json: bool) -> None:
    """Print the stages whose lock entry does not match; exit 3 when there is one."""
    import json

    from mlpipe.api import gitops

    found = gitops.check_lock(file)
    lock_name = file.with_suffix(".lock").name
    if as_json:
        typer.echo(json.dumps({"lock_matches": not found, "stages": [
            {"stage": m.stage, "reasons": list(m.reasons)} for m in found]}, indent=2))
    elif not found:
        typer.echo(f"{lock_name} matches the pipeline")
    else:
        for mismatch in found:
            typer.echo(f"{mismatch.stage}: {mismatch.reason}")
        typer.echo(f"{lock_name} does not match the pipeline: run `mlpipe run`, then "
                   f"`git add {lock_name}`", err=True)
    if found:
        raise typer.Exit(EXIT_STALE)


def register(app: typer.Typer) -> None:
    app.command("status")(status)

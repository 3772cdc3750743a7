"""`mlpipe reproduce REV`: rebuild a past commit's outputs and check them against its lock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mlpipe.cli import options as opt
from mlpipe.errors import EXIT_STAGE_FAILED
from mlpipe.state.workspace import DEFAULT_FILE


def reproduce(
    rev: Annotated[str, typer.Argument(help="The commit (or branch, tag) to rebuild.")],
    file: opt.PipelineFile = Path(DEFAULT_FILE),
    use_cache: Annotated[bool, typer.Option(
        "--use-cache", help="Restore from the cache where it can instead of executing.")] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1,
                                      help="Independent stages run at once.")] = 1,
    as_json: opt.Json = False,
) -> None:
    """Rebuild REV's outputs in a temporary git worktree sharing this checkout's cache, and
    say whether each output's hash matches REV's lock file. Exit 1 when one does not."""
    from mlpipe.api.reproduce import reproduce as rebuild
    from mlpipe.cli import render

    result = rebuild(file, rev, force=not use_cache, jobs=jobs,
                     on_event=render.PlainRenderer(render.stderr_out()))
    if as_json:
        typer.echo(json.dumps({
            "rev": result.rev, "commit": result.commit, "ok": result.ok,
            "stages": json.loads(render.report_json(result.report))["stages"],
            "outputs": [{"stage": c.stage, "path": c.path, "expected": c.expected,
                         "actual": c.actual, "matches": c.matches} for c in result.checks],
        }, indent=2))
    else:
        for c in result.checks:
            verdict = "matches" if c.matches else f"DIFFERS (lock {c.expected}, now {c.actual})"
            typer.echo(f"{c.stage}: {c.path}: {verdict}")
        same = sum(c.matches for c in result.checks)
        typer.echo(f"{result.commit[:8]}: {same}/{len(result.checks)} outputs reproduced")
    if not result.ok:
        raise typer.Exit(EXIT_STAGE_FAILED)


def register(app: typer.Typer) -> None:
    app.command("reproduce")(reproduce)

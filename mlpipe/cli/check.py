"""`mlpipe check`: validate pipeline files without running anything."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlpipe.errors import EXIT_USAGE, MlpipeError
from mlpipe.state.workspace import DEFAULT_FILE


def check(
    files: Annotated[list[Path] | None, typer.Argument(
        help="Pipeline files to check (default: ./mlpipe.yaml).", show_default=False)] = None,
) -> None:
    """Check syntax, schema, graph, references and params of pipeline files; run nothing.

    Prints one line per file; exits 2 when any file is invalid.
    """
    from mlpipe import api
    from mlpipe.cli import github

    failed = 0
    for file in files or [Path(DEFAULT_FILE)]:
        try:
            loaded = api.load(file)
        except MlpipeError as exc:
            failed += 1
            typer.echo(f"mlpipe: error: {exc}", err=True)
            if github.enabled():
                github.annotate_error(exc)
            continue
        typer.echo(f"{file}: ok ({len(loaded.spec.stages)} stages)")
    if failed:
        raise typer.Exit(EXIT_USAGE)


def register(app: typer.Typer) -> None:
    app.command("check")(check)

"""`mlpipe add` and `mlpipe checkout`: version data that is not in git."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlpipe.cli import options as opt
from mlpipe.cli.cache import plural, size_text
from mlpipe.state.workspace import DEFAULT_FILE

Paths = Annotated[list[str], typer.Argument(help="Files or directories to version.",
                                            show_default=False)]


def add(paths: Paths, file: opt.PipelineFile = Path(DEFAULT_FILE)) -> None:
    """Store the paths' content in the cache, record their hashes in the data file
    (`mlpipe.data.yaml`, to commit) and git-ignore them; stages may then depend on them.

    Exit codes: 0 done, 2 a path cannot be versioned (named).
    """
    from mlpipe.api import data

    for entry in data.add(file, paths):
        files = f", {plural(entry.files, 'file')}" if entry.digest.endswith(".dir") else ""
        typer.echo(f"added {entry.path} ({size_text(entry.size)}{files})")


def checkout(file: opt.PipelineFile = Path(DEFAULT_FILE),
             force: Annotated[bool, typer.Option(
                 "--force", help="Replace versioned paths even when they hold an edit "
                                 "nobody recorded.")] = False) -> None:
    """Put the versioned data the data file records in place, checked against its hashes.

    Exit codes: 0 done, 1 an edit would be lost or the content is not in the cache (named).
    """
    from mlpipe.api import data

    result = data.checkout(file, force)
    for path in result.restored:
        typer.echo(f"restored {path}")
    typer.echo(f"{plural(len(result.restored), 'path')} restored, {result.unchanged} unchanged")


def register(app: typer.Typer) -> None:
    app.command("add")(add)
    app.command("checkout")(checkout)

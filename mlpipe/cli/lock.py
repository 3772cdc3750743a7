"""`mlpipe lock merge`: git's merge driver for lock files (see docs/team-gitops.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

lock_app = typer.Typer(help="Work with lock files.", no_args_is_help=True)

LockPath = Annotated[Path, typer.Argument(show_default=False)]


@lock_app.command("merge")
def merge(base: LockPath, ours: LockPath, theirs: LockPath,
          name: Annotated[str | None, typer.Option(
              "--name", help="The lock file's path in the repository, for messages (git: %P).",
              show_default=False)] = None) -> None:
    """Merge lock files stage by stage into OURS (as git's merge driver: %O %A %B).

    A stage changed on one side only takes that side; one changed on both sides to different
    results is dropped, so the next `mlpipe run` runs it again.
    """
    from mlpipe.api import gitops

    dropped = gitops.merge_lock(base, ours, theirs)
    shown = name or ours.name
    for stage in dropped:
        typer.echo(f"mlpipe: {shown}: stage '{stage}' changed on both sides of a merge; its "
                   "entry is dropped, so `mlpipe run` runs it again", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(lock_app, name="lock")

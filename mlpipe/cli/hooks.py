"""`mlpipe hooks install|uninstall`: plain git hooks for repositories without pre-commit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlpipe.errors import EXIT_STALE, EXIT_USAGE, UsageError
from mlpipe.state.workspace import DEFAULT_FILE

hooks_app = typer.Typer(help="Install or remove mlpipe's git hooks.", no_args_is_help=True)

Pipelines = Annotated[list[Path] | None, typer.Option(
    "--file", "-f", help="Pipeline file the hooks check (repeatable; default ./mlpipe.yaml).",
    show_default=False)]


def _hooks_dir() -> tuple[Path, Path]:
    from mlpipe.vcs import gitinfo

    found = gitinfo.hooks_dir(Path.cwd())
    if found is None:
        raise UsageError(f"{Path.cwd()}: not inside a git repository")
    return found


@hooks_app.command("install")
def install(
    pre_commit: Annotated[bool, typer.Option(
        "--pre-commit", help="Check pipeline files and stale lock files on commit.")] = False,
    pre_push: Annotated[bool, typer.Option(
        "--pre-push", help="Run the pipeline before a push; fail if its lock is uncommitted.")
    ] = False,
    files: Pipelines = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace an existing hook, keeping it as <hook>.mlpipe-backup.")] = False,
) -> None:
    """Write git hooks (pre-commit when no hook is named). Existing hooks are never overwritten
    silently: without --force, a hook mlpipe did not write stops the install."""
    from mlpipe.api import staged
    from mlpipe.vcs import hooks as githooks

    top, hooks_dir = _hooks_dir()
    pipelines = _from_top(top, files, must_exist=True)
    watch = [path for pipeline in pipelines for path in staged.watch_paths_now(top, pipeline)]
    chosen = [h for h, on in (("pre-commit", pre_commit), ("pre-push", pre_push)) if on]
    for change in githooks.install(hooks_dir, chosen or ["pre-commit"], pipelines, force,
                                   list(dict.fromkeys(watch))):
        typer.echo(f"{change.hook}: {change.action} ({change.path})")


def _from_top(top: Path, files: list[Path] | None, must_exist: bool) -> list[str]:
    """Pipeline files as paths from the work tree's top."""
    pipelines = []
    for file in files or [Path(DEFAULT_FILE)]:
        path = file.resolve()
        if must_exist and not path.is_file():
            raise UsageError(f"{file}: pipeline file not found")
        try:
            pipelines.append(path.relative_to(top.resolve()).as_posix())
        except ValueError:
            raise UsageError(f"{file}: outside the git work tree {top}") from None
    return pipelines


@hooks_app.command("check-staged")
def check_staged(
    files: Pipelines = None,
    refresh_hook: Annotated[bool, typer.Option(
        "--refresh-hook", help="Rewrite the pre-commit hook's list of watched paths.")] = False,
) -> None:
    """Check the pipeline files and lock files as staged for the next commit (the index, not
    the work tree). Exits 2 for an invalid pipeline, 3 for a lock file that does not match."""
    from mlpipe.api import staged
    from mlpipe.cli import render
    from mlpipe.vcs import hooks as githooks

    top, hooks_dir = _hooks_dir()
    pipelines = _from_top(top, files, must_exist=False)
    try:
        checks = [staged.check(top, pipeline) for pipeline in pipelines]
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if refresh_hook:
        watch = dict.fromkeys(path for done in checks for path in done.watch)
        githooks.refresh(hooks_dir, pipelines, list(watch))
    for done in checks:
        render.staged_text(done, render.stderr_out())
    if any(done.error for done in checks):
        raise typer.Exit(EXIT_USAGE)
    if any(done.mismatched for done in checks):
        raise typer.Exit(EXIT_STALE)


@hooks_app.command("uninstall")
def uninstall() -> None:
    """Remove the hooks mlpipe wrote (others are left alone) and restore replaced ones."""
    from mlpipe.vcs import hooks as githooks

    _, hooks_dir = _hooks_dir()
    changes = githooks.uninstall(hooks_dir)
    for change in changes:
        typer.echo(f"{change.hook}: {change.action} ({change.path})")
    if not changes:
        typer.echo("no mlpipe hooks installed")


def register(app: typer.Typer) -> None:
    app.add_typer(hooks_app, name="hooks")

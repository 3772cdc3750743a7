"""The `mlpipe` command: a typer app whose commands parse, call `mlpipe.api`, and render.

Errors are mapped to exit codes in exactly one place, `_Group.invoke`: an MlpipeError prints
one line on stderr and exits with its `exit_code`; Ctrl-C exits 130 with one line. Nothing
else is caught, so a bug still shows its traceback.
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperGroup

from mlpipe.errors import EXIT_INTERRUPTED, MlpipeError
from mlpipe.version import __version__


class _Group(TyperGroup):
    """Runs a command and turns an MlpipeError into its one-line message and exit code."""

    def invoke(self, ctx: Any) -> Any:  # typer's own Context, from its vendored click
        try:
            return super().invoke(ctx)
        except MlpipeError as exc:
            typer.echo(f"mlpipe: error: {exc}", err=True)
            from mlpipe.cli import github

            if github.enabled():
                github.annotate_error(exc)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            typer.echo("mlpipe: interrupted; stages that finished were recorded", err=True)
            ctx.exit(EXIT_INTERRUPTED)


app = typer.Typer(
    cls=_Group,
    name="mlpipe",
    help="GitOps-style ML pipelines: declare stages in YAML, run only what changed.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlpipe {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Show the version and exit."),
) -> None:
    """GitOps-style ML pipelines: declare stages in YAML, run only what changed."""


COMMAND_MODULES = ("run", "status", "dag", "check", "init", "hooks", "compare", "reproduce",
                   "models", "deploy", "serve", "cache", "remote", "transfer", "report",
                   "monitor", "exp", "lock", "data")


def _register() -> None:
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(f"mlpipe.cli.{name}").register(app)


_register()


def main() -> None:
    """Console-script entry point."""
    sys.exit(app(prog_name="mlpipe"))

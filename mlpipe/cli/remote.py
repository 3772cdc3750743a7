"""`mlpipe remote add|list|remove|default`: the named remotes of this clone
(`.mlpipe/remotes.yaml`), which `push`, `pull` and `run --pull/--push` use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from mlpipe.cli import options as opt
from mlpipe.state.workspace import DEFAULT_FILE, Workspace

remote_app = typer.Typer(help="Named remotes: where push, pull and run --pull/--push share the "
                              "cache.", no_args_is_help=True)

Name = Annotated[str, typer.Argument(help="The remote's name, e.g. origin.", show_default=False)]
Url = Annotated[str, typer.Argument(
    help="An fsspec URL (s3://bucket/path, gs://..., sftp://...) or a directory.",
    show_default=False)]
MakeDefault = Annotated[bool, typer.Option(
    "--default", help="Use it when a command names no remote.")]
Options = Annotated[list[str] | None, typer.Option(
    "--option", "-o", help="A storage option, key=value (repeatable): -o endpoint_url=http://"
                           "host:9000; dotted keys nest.", show_default=False)]


def _state_dir(file: Path) -> Path:
    return Workspace.for_file(file).state_dir


@remote_app.command("add")
def add(name: Name, url: Url, make_default: MakeDefault = False, options: Options = None,
        file: opt.PipelineFile = Path(DEFAULT_FILE)) -> None:
    """Add a named remote (the default too with --default, or when it is the first)."""
    from mlpipe.remote import config
    from mlpipe.remote.fs import check_protocol

    remote = config.NamedRemote(config.check_name(name),
                                config.absolute(config.check_url(url), Path.cwd()),
                                config.parse_options(options or ()))
    check_protocol(remote.url)
    new = config.update(_state_dir(file), lambda cfg: config.added(cfg, remote, make_default))
    suffix = " (default)" if new.default == name else ""
    typer.echo(f"added remote '{name}': {remote.url}{suffix}")


@remote_app.command("list")
def list_remotes(file: opt.PipelineFile = Path(DEFAULT_FILE), as_json: opt.Json = False) -> None:
    """List the named remotes; `*` marks the default. Secrets in options are masked."""
    from mlpipe.remote import config

    cfg = config.read(config.config_path(_state_dir(file)))
    rows: list[dict[str, Any]] = [
        {"name": r.name, "url": r.url, "options": config.shown_options(r.options),
         "default": r.name == cfg.default} for r in cfg.remotes]
    if as_json:
        typer.echo(json.dumps({"remotes": rows}, indent=2))
        return
    if not rows:
        typer.echo("no named remotes; add one with `mlpipe remote add NAME URL`")
    for row in rows:
        options = " ".join(f"{k}={json.dumps(v)}" for k, v in row["options"].items())
        mark = "*" if row["default"] else " "
        typer.echo(f"{mark} {row['name']}  {row['url']}{'  ' + options if options else ''}")


@remote_app.command("remove")
def remove(name: Name, file: opt.PipelineFile = Path(DEFAULT_FILE)) -> None:
    """Remove a named remote (nothing on the remote itself is deleted)."""
    from mlpipe.remote import config

    config.update(_state_dir(file), lambda cfg: config.removed(cfg, name))
    typer.echo(f"removed remote '{name}'")


@remote_app.command("default")
def default(name: Name, file: opt.PipelineFile = Path(DEFAULT_FILE)) -> None:
    """Make a named remote the one commands use when they name none."""
    from mlpipe.remote import config

    config.update(_state_dir(file), lambda cfg: config.with_default(cfg, name))
    typer.echo(f"default remote: '{name}'")


def register(app: typer.Typer) -> None:
    """Add the `remote` command group to the app.

    Args:
        app: The root typer app.
    """
    app.add_typer(remote_app, name="remote")

"""`mlpipe deploy status`: is what is deployed what the pipeline file at HEAD declares?"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from mlpipe.cli import options as opt
from mlpipe.errors import EXIT_STALE
from mlpipe.state.workspace import DEFAULT_FILE

deploy_app = typer.Typer(help="Deployments: compare what is deployed with what is declared.",
                         no_args_is_help=True)


def _model(side: dict[str, Any] | None) -> str:
    if not side or "version" not in side:
        return "-"
    return f"{side['name']}:{side['version']} on {side.get('host')}:{side.get('port')}"


def _line(entry: dict[str, Any]) -> str:
    """One human line per deploy stage."""
    stage, action = entry["stage"], entry["action"]
    deployed, desired = entry["deployed"], entry["desired"]
    if action == "none":
        return f"{stage}: in sync ({_model(deployed)})"
    if action == "create":
        return f"{stage}: would deploy {_model(desired)} (ref {desired['ref']}); not deployed"
    if action == "remove":
        return f"{stage}: deployed {_model(deployed)} but no longer declared; would remove"
    if action == "unresolved":
        return f"{stage}: cannot deploy: {desired['error']} (deployed: {_model(deployed)})"
    changes = ", ".join(f"{key} {old} -> {new}" for key, (old, new) in entry["changes"].items()
                        if key != "digest") or "digest changed"
    return f"{stage}: would update {_model(deployed)} -> {_model(desired)} ({changes})"


@deploy_app.command("status")
def status(file: opt.PipelineFile = Path(DEFAULT_FILE), as_json: opt.Json = False) -> None:
    """What `mlpipe run` would change in the deployments (exit 3 when drifted, 0 in sync).

    Compares the deploy stages (target server) of the pipeline file at git HEAD, with the
    registry version each model reference resolves to now, against the recorded deployments.
    """
    from mlpipe.api.deploy_status import deploy_status

    report = deploy_status(file)
    if as_json:
        typer.echo(json.dumps(report, indent=2, sort_keys=True))
    else:
        source = f"HEAD {report['commit'][:10]}" if report["commit"] else "work tree"
        typer.echo(f"declared at {source}")
        for entry in report["deployments"]:
            typer.echo(_line(entry))
        if not report["deployments"]:
            typer.echo("no server deployments declared or recorded")
        drifted = sum(e["action"] != "none" for e in report["deployments"])
        typer.echo("in sync" if report["in_sync"] else
                   f"drifted: {drifted} deployment(s) differ; `mlpipe run` applies the change")
    if not report["in_sync"]:
        raise typer.Exit(EXIT_STALE)


def register(app: typer.Typer) -> None:
    """Add the `deploy` command group to the CLI."""
    app.add_typer(deploy_app, name="deploy")

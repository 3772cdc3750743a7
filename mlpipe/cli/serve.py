"""`mlpipe serve NAME[@ALIAS]`: serve a registered model over HTTP (Starlette + uvicorn)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlpipe.cli import options as opt
from mlpipe.errors import UsageError
from mlpipe.workspace import DEFAULT_FILE, Workspace

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_MAX_BODY = 1024 * 1024

Ref = Annotated[str | None, typer.Argument(
    help="NAME (latest version), NAME@ALIAS or NAME:VERSION; omit with --deployment.",
    show_default=False)]
Deployment = Annotated[str | None, typer.Option(
    "--deployment", "-d", help="Serve what this deploy stage (target server) recorded, on its "
    "host and port unless --host/--port are given.", show_default=False)]
Host = Annotated[str | None, typer.Option(
    "--host", help=f"Interface to listen on [default: {DEFAULT_HOST}].", show_default=False)]
Port = Annotated[int | None, typer.Option(
    "--port", min=0, max=65535, help=f"TCP port [default: {DEFAULT_PORT}].",
    show_default=False)]
MaxBody = Annotated[int, typer.Option(
    "--max-body", min=1, help="Largest request body in bytes; larger ones get 413.")]


def _target(ref: str | None, deployment: str | None, state_dir: Path
            ) -> tuple[str, str | None, int | None]:
    """(model reference, recorded host, recorded port) from REF or --deployment."""
    if (ref is None) == (deployment is None):
        raise UsageError("give a model reference (NAME[@ALIAS]) or --deployment STAGE, not both")
    if ref is not None:
        return ref, None, None
    from mlpipe.serving.deployments import DeploymentError, read_record

    try:
        record = read_record(state_dir, str(deployment))
    except DeploymentError as exc:
        raise UsageError(str(exc)) from None
    return f"{record['name']}:{record['version']}", record.get("host"), record.get("port")


def serve(ref: Ref = None, deployment: Deployment = None,
          file: opt.PipelineFile = Path(DEFAULT_FILE), host: Host = None, port: Port = None,
          max_body: MaxBody = DEFAULT_MAX_BODY) -> None:
    """Serve a registered model: GET /health, /metadata; POST /predict, /invocations.

    The model is read from the pipeline's registry (checked against its digest) and loaded
    once. A version whose evaluation gates failed is refused. Requests are checked against the
    model's features: missing or unknown columns and wrong types get a 4xx JSON error.
    """
    from mlpipe.models.registry import Registry
    from mlpipe.serving.deployments import DeploymentError, deployable, model_info

    state_dir = Workspace.for_file(file).state_dir
    model, recorded_host, recorded_port = _target(ref, deployment, state_dir)
    try:
        version, model_file = deployable(Registry(state_dir), model)
    except DeploymentError as exc:
        raise UsageError(str(exc)) from None
    from mlpipe.serving.app import create_app, load_model, run_server

    app = create_app(load_model(model_file), version.meta, model_info(version),
                     max_body=max_body)
    host = host or recorded_host or DEFAULT_HOST
    port = port if port is not None else recorded_port or DEFAULT_PORT
    typer.echo(f"serving {version.ref} ({version.digest[:12]}) on http://{host}:{port}",
               err=True)
    run_server(app, host, int(port))


def register(app: typer.Typer) -> None:
    """Add `serve` to the CLI."""
    app.command("serve")(serve)

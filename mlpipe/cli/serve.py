"""`mlpipe serve NAME[@ALIAS]`: serve a registered model over HTTP (Starlette + uvicorn)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlpipe.cli import options as opt
from mlpipe.errors import UsageError
from mlpipe.workspace import DEFAULT_FILE, Workspace

DEFAULT_HOST = "127.0.0.1"
# mlpipe.serving.app.TOKEN_ENV, spelled out so every mlpipe command does not import the app
TOKEN_ENV = "MLPIPE_SERVE_TOKEN"
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
Token = Annotated[str | None, typer.Option(
    "--token", envvar=TOKEN_ENV, show_envvar=True, show_default=False,
    help="Require 'Authorization: Bearer TOKEN' on /metadata, /predict and /invocations "
    "(/health stays open). Prefer the environment variable: arguments show in `ps`.")]


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
          max_body: MaxBody = DEFAULT_MAX_BODY, token: Token = None) -> None:
    """Serve a registered model: GET /health, /metadata; POST /predict, /invocations.

    The model is read from the pipeline's registry and loaded once, only after its bytes match
    the digest the registry recorded. A version whose evaluation gates failed is refused.
    Requests are checked against the model's features: missing or unknown columns and wrong
    types get a 4xx JSON error. Listens on 127.0.0.1 unless --host says otherwise.
    """
    from mlpipe.models.registry import Registry
    from mlpipe.serving.deployments import DeploymentError, deployable, model_info

    if token is not None and not token.strip():
        raise UsageError(f"the serving token is empty: give a non-empty --token or "
                         f"{TOKEN_ENV}, or neither")
    state_dir = Workspace.for_file(file).state_dir
    model, recorded_host, recorded_port = _target(ref, deployment, state_dir)
    try:
        version, model_bytes = deployable(Registry(state_dir), model)
    except DeploymentError as exc:
        raise UsageError(str(exc)) from None
    from mlpipe.serving.app import create_app, run_server
    from mlpipe.serving.modelfile import load_bytes

    app = create_app(load_bytes(model_bytes), version.meta, model_info(version),
                     max_body=max_body, token=token)
    host = host or recorded_host or DEFAULT_HOST
    port = port if port is not None else recorded_port or DEFAULT_PORT
    auth = "bearer token required" if token else "no token: anyone who can connect may call it"
    typer.echo(f"serving {version.ref} ({version.digest[:12]}) on http://{host}:{port} "
               f"({auth})", err=True)
    run_server(app, host, int(port))


def register(app: typer.Typer) -> None:
    """Add `serve` to the CLI."""
    app.command("serve")(serve)

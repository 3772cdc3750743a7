"""`mlpipe serve NAME[@ALIAS]`: serve a registered model over HTTP (Starlette + uvicorn)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlpipe.cli import options as opt
from mlpipe.errors import ServeError, UsageError
from mlpipe.state.workspace import DEFAULT_FILE, Workspace

if TYPE_CHECKING:
    from mlpipe.models.registry import ModelVersion
    from mlpipe.serving.predlog import LogStats, PredictionLog

DEFAULT_HOST = "127.0.0.1"
# mlpipe.serving.app.TOKEN_ENV, spelled out so every mlpipe command does not import the app
TOKEN_ENV = "MLPIPE_SERVE_TOKEN"
DEFAULT_PORT = 8000
# mlpipe.serving.app.DEFAULT_MAX_BODY and DEFAULT_TIMEOUT, spelled out for the same reason
DEFAULT_MAX_BODY = 32 * 1024 * 1024
DEFAULT_TIMEOUT = 60.0
# mlpipe.serving.predlog.DEFAULT_MAX_BYTES, spelled out for the same reason
DEFAULT_LOG_MAX_BYTES = 64 * 1024 * 1024

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
LogPredictions = Annotated[Path | None, typer.Option(
    "--log-predictions", file_okay=False, show_default=False,
    help="Log every answered /predict and /invocations request (inputs, predictions, request "
    "id, time, model version) as JSON lines in this directory, rotated hourly and by size; "
    "`mlpipe monitor` reads them (it looks in .mlpipe/predictions by default).")]
Workers = Annotated[int, typer.Option(
    "--workers", min=1, help="Processes answering requests (forked after the model is loaded; "
    "not with --log-predictions).")]
Timeout = Annotated[float, typer.Option(
    "--timeout", min=0.001, help="Seconds a prediction request may take before it is answered "
    "504.")]
LogMaxBytes = Annotated[int, typer.Option(
    "--log-max-bytes", min=1, help="Rotate a prediction log file past this size in bytes.")]


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


def _prediction_log(directory: Path | None, version: ModelVersion, max_bytes: int
                    ) -> PredictionLog | None:
    """The prediction log of `--log-predictions`, or None without it."""
    if directory is None:
        return None
    from mlpipe.serving.predlog import PredictionLog, PredictionLogError

    def summary(stats: LogStats) -> None:
        lost = f", {stats.failed} lost to write errors" if stats.failed else ""
        typer.echo(f"prediction log: {stats.written} request(s) written to {directory}, "
                   f"{stats.dropped} dropped (queue full){lost}", err=True)

    try:
        return PredictionLog(directory, version.name, version.version, max_bytes=max_bytes,
                             on_close=summary)
    except PredictionLogError as exc:
        raise UsageError(f"{exc}; choose another --log-predictions directory") from None


def serve(ref: Ref = None, deployment: Deployment = None,
          file: opt.PipelineFile = Path(DEFAULT_FILE), host: Host = None, port: Port = None,
          max_body: MaxBody = DEFAULT_MAX_BODY, token: Token = None,
          log_predictions: LogPredictions = None,
          log_max_bytes: LogMaxBytes = DEFAULT_LOG_MAX_BYTES, workers: Workers = 1,
          timeout: Timeout = DEFAULT_TIMEOUT) -> None:
    """Serve a registered model: POST /invocations (MLflow's protocol), /predict; GET /health,
    /ping, /version, /metrics, /metadata, /openapi.json, /docs.

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
    if workers > 1 and log_predictions is not None:
        raise UsageError("--log-predictions needs a single process: leave out --workers")
    state_dir = Workspace.for_file(file).state_dir
    model, recorded_host, recorded_port = _target(ref, deployment, state_dir)
    try:
        version, model_bytes = deployable(Registry(state_dir), model)
    except DeploymentError as exc:
        raise UsageError(str(exc)) from None
    from mlpipe import __version__
    from mlpipe.serving.app import create_app
    from mlpipe.serving.modelfile import load_bytes
    from mlpipe.serving.server import ServerStartError, listen, run_server

    host = host or recorded_host or DEFAULT_HOST
    port = port if port is not None else recorded_port or DEFAULT_PORT
    try:
        sock = listen(host, int(port))
    except ServerStartError as exc:
        raise ServeError(str(exc)) from None
    log = _prediction_log(log_predictions, version, log_max_bytes)
    app = create_app(load_bytes(model_bytes), version.meta, model_info(version),
                     max_body=max_body, token=token, prediction_log=log, timeout=timeout,
                     server_version=__version__)
    auth = "bearer token required" if token else "no token: anyone who can connect may call it"
    logged = f"; logging predictions to {log.directory}" if log is not None else ""
    processes = f", {workers} processes" if workers > 1 else ""
    typer.echo(f"serving {version.ref} ({version.digest[:12]}) on http://{host}:{port} "
               f"({auth}{processes}){logged}", err=True)
    try:
        run_server(app, sock, workers=workers)
    finally:
        if log is not None:  # the app closes it at shutdown; this covers a failed start
            log.close()


def register(app: typer.Typer) -> None:
    """Add `serve` to the CLI."""
    app.command("serve")(serve)

"""The HTTP app that serves one model.

Endpoints: GET /health and /ping (probes), /version, /metrics (Prometheus), /metadata,
/openapi.json and /docs; POST /predict (mlpipe's form, with class probabilities unless
`?probabilities=false`) and /invocations (MLflow's scoring protocol, see `payload`).

With a token, every endpoint but /health, /ping and /version answers only requests that carry
`Authorization: Bearer <token>` (compared in constant time); others get 401. The token is
never logged or echoed.

A request the model cannot take gets a 4xx `{"error": "..."}` that names the problem (empty
or malformed body, wrong shape, missing/unknown column, wrong type, a number outside its
column's range, body over the size limit, unsupported Content-Type); a request that takes
longer than the timeout gets a 504; anything unexpected gets a 500 `{"error": ...}` without a
traceback (the traceback goes to the server log). Parsing, checking and predicting run in a
worker thread, so probes are answered while a large batch is scored. The model is loaded
once, before the app is built, and only after its bytes match its recorded hash (see
`modelfile`).

Every answer carries `X-Request-ID`: the client's own when it sent a usable one (1-128
letters, digits, `.`, `_`, `:`, `-`), else a new one. With a prediction log (see `predlog`),
every answered prediction request is logged with that id, so labels collected later join it.

This module imports nothing from mlpipe (only its sibling modules), so bundles can ship it;
starlette is imported inside functions.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from .guard import request_id
from .metrics import CONTENT_TYPE as METRICS_TYPE
from .metrics import Metrics
from .openapi import document, page
from .payload import Rows, invocation_body, parse_json, predict_rows
from .predict import PredictionError, is_classifier, predict
from .schema import InputError

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.types import ASGIApp

    from .predlog import PredictionLog

# Large enough for a batch of about 350,000 four-column records; `--max-body` changes it.
DEFAULT_MAX_BODY = 32 * 1024 * 1024
DEFAULT_TIMEOUT = 60.0
LOG = logging.getLogger("mlpipe.serving")
TOKEN_ENV = "MLPIPE_SERVE_TOKEN"
ROUTES = ("/health", "/ping", "/version", "/metrics", "/metadata", "/predict", "/invocations",
          "/openapi.json", "/docs")


def signature(meta: Mapping[str, Any]) -> dict[str, Any]:
    """What the model takes and gives: features, task, target and classes."""
    return {"inputs": list(meta.get("features") or []), "task": meta.get("task"),
            "target": meta.get("target"), "classes": meta.get("classes")}


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) one larger than `limit` bytes before reading it all.

    Args:
        request: The request.
        limit: The largest body accepted, in bytes.

    Returns:
        The body.
    """
    too_large = InputError(f"request body is larger than the limit of {limit} bytes", 413)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _error(status: int, message: str, headers: Mapping[str, str] | None = None
           ) -> Response:
    from starlette.responses import JSONResponse

    return JSONResponse({"error": message}, status_code=status, headers=headers)


def authorized(header: str | None, token: bytes) -> bool:
    """Whether an Authorization header carries the bearer token (constant-time comparison).

    Args:
        header: The request's Authorization header, or None.
        token: The expected token, UTF-8 encoded.
    """
    scheme, _, given = (header or "").strip().partition(" ")
    # Header values arrive decoded as latin-1: encoding them back gives the bytes sent.
    presented = given.strip().encode("latin-1", errors="replace")
    return hmac.compare_digest(presented, token) and scheme.lower() == "bearer"


def _unauthorized(request: Request) -> Response:
    problem = ("wrong bearer token" if request.headers.get("authorization")
               else "missing Authorization header")
    return _error(401, f"{problem}: send 'Authorization: Bearer <token>'",
                  {"WWW-Authenticate": "Bearer"})


Handler = Callable[["Request"], Awaitable["Response"]]


def _guarded(handler: Handler, token: bytes | None = None, timeout: float | None = None
             ) -> Handler:
    """The handler, behind the bearer token when there is one, answering 504 past `timeout`
    seconds, with every failure turned into a JSON error answer."""
    from starlette.requests import ClientDisconnect

    async def guarded(request: Request) -> Response:
        if token is not None and not authorized(request.headers.get("authorization"), token):
            return _unauthorized(request)
        try:
            return await asyncio.wait_for(handler(request), timeout)
        except InputError as exc:
            return _error(exc.status, exc.message)
        except PredictionError as exc:
            return _error(422, str(exc))
        except TimeoutError:
            LOG.warning("%s %s timed out after %gs", request.method, request.url.path, timeout)
            return _error(504, f"the request took longer than the limit of {timeout:g}s")
        except ClientDisconnect:
            LOG.warning("client %s hung up before sending the whole body of %s %s",
                        request.client.host if request.client else "?", request.method,
                        request.url.path)
            return _error(400, "client disconnected")
        except Exception as exc:
            LOG.exception("error while answering %s %s", request.method, request.url.path)
            return _error(500, f"internal error ({type(exc).__name__}); see the server log")

    return guarded


def create_app(model: Any, meta: Mapping[str, Any], info: Mapping[str, Any],
               max_body: int = DEFAULT_MAX_BODY, token: str | None = None,
               prediction_log: PredictionLog | None = None,
               timeout: float = DEFAULT_TIMEOUT, server_version: str = "unknown") -> ASGIApp:
    """The serving app for one loaded model.

    Args:
        model: The fitted model (a Pipeline taking the raw feature columns).
        meta: The model's metadata; `features` is the input signature.
        info: What /metadata reports besides the signature (name, version, digest, lineage).
        max_body: The largest request body accepted, in bytes (larger ones get 413).
        token: When given, the bearer token every endpoint but the probes requires.
        prediction_log: When given, every answered prediction request is queued on it.
        timeout: Seconds a request may take before it is answered 504.
        server_version: What /version answers.

    Returns:
        An ASGI app (Starlette behind `guard.Guard`).
    """
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse
    from starlette.routing import Route

    from .guard import Guard

    features = list(meta.get("features") or [])
    secret = token.encode("utf-8") if token is not None else None
    metadata = {**info, "signature": signature(meta)}
    metrics = Metrics(info)
    openapi = document(f"{info.get('name', 'model')} (mlpipe serve)",
                       str(info.get("version", "")), features)

    def score(path: str, rid: str, rows: Rows, full: bool, probabilities: bool
              ) -> dict[str, Any]:
        if rows.params:
            raise InputError(f"this model takes no params (got {', '.join(sorted(rows.params))})")
        # the prediction log keeps probabilities for `mlpipe monitor`'s quality metrics
        wanted = probabilities or prediction_log is not None
        result = predict(model, meta, rows.frame(features), probabilities=wanted)
        if prediction_log is not None:
            prediction_log.submit(path, rid, rows.as_records(), result)
        return result if full else {"predictions": result["predictions"]}

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def version(request: Request) -> Response:
        return PlainTextResponse(server_version)

    async def show_metrics(request: Request) -> Response:
        return PlainTextResponse(metrics.render(), media_type=METRICS_TYPE)

    async def show_metadata(request: Request) -> Response:
        return JSONResponse({**metadata, "classifier": is_classifier(model, meta)})

    async def show_openapi(request: Request) -> Response:
        return JSONResponse(openapi)

    async def show_docs(request: Request) -> Response:
        return HTMLResponse(page(openapi))

    async def predict_endpoint(request: Request) -> Response:
        body = await read_body(request, max_body)
        flag = request.query_params.get("probabilities", "true").lower()
        if flag not in ("true", "false", "1", "0"):
            raise InputError("'probabilities' must be true or false", 400)

        def work() -> dict[str, Any]:
            rows = predict_rows(parse_json(body))
            return score("/predict", request_id(request), rows, True, flag in ("true", "1"))

        return JSONResponse(await run_in_threadpool(work))

    async def invocations(request: Request) -> Response:
        body = await read_body(request, max_body)
        content_type = request.headers.get("content-type")

        def work() -> dict[str, Any]:
            rows = invocation_body(body, content_type, features)
            return score("/invocations", request_id(request), rows, False, False)

        return JSONResponse(await run_in_threadpool(work))

    async def http_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException):
            return _error(exc.status_code, f"{exc.detail}: {request.method} {request.url.path}")
        return _error(500, "internal error; see the server log")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if prediction_log is not None:  # uvicorn may end the process right after shutdown
            await run_in_threadpool(prediction_log.close)

    def route(path: str, handler: Handler, method: str = "GET", private: bool = True,
              limit: float | None = None) -> Route:
        return Route(path, _guarded(handler, secret if private else None, limit),
                     methods=[method])

    routes = [
        route("/health", health, private=False), route("/ping", health, private=False),
        route("/version", version, private=False), route("/metrics", show_metrics),
        route("/metadata", show_metadata), route("/openapi.json", show_openapi),
        route("/docs", show_docs),
        route("/predict", predict_endpoint, "POST", limit=timeout),
        route("/invocations", invocations, "POST", limit=timeout),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: http_error, Exception: http_error})
    return Guard(app, metrics, ROUTES)

"""The HTTP app that serves one model: /health, /metadata, /predict and /invocations.

With a token, /metadata, /predict and /invocations answer only requests that carry
`Authorization: Bearer <token>` (compared in constant time); others get 401. /health stays
open for load balancers and probes. The token is never logged or echoed.

Every answer is JSON. A request the model cannot take gets a 4xx `{"error": "..."}` that
names the problem (empty or malformed body, wrong shape, missing/unknown column, wrong type,
body over the size limit); anything unexpected gets a 500 `{"error": ...}` without a
traceback (the traceback goes to the server log). The model is loaded once, before the app
is built, and only after its bytes match its recorded hash (see `modelfile`).

With a prediction log (see `predlog`), every answered /predict and /invocations request is
queued for logging with a request id, which the answer carries as `X-Request-ID`: the
client's own when it sent a usable one (1-128 letters, digits, `.`, `_`, `:`, `-`), else a
new one. Labels collected later join the logged requests on that id.

This module imports nothing from mlpipe (only its sibling modules), so bundles can ship it;
starlette and uvicorn are imported inside functions.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from .predict import PredictionError, is_classifier, predict
from .schema import InputError, check_records, invocation_records, parse_json, predict_records

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    from .predlog import PredictionLog

DEFAULT_MAX_BODY = 1024 * 1024
LOG = logging.getLogger("mlpipe.serving")
TOKEN_ENV = "MLPIPE_SERVE_TOKEN"
REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


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


def request_id(request: Request) -> str:
    """The client's X-Request-ID when it is usable, else a new random id."""
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex


def _error(status: int, message: str, headers: Mapping[str, str] | None = None
           ) -> JSONResponse:
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


def _unauthorized(request: Request) -> JSONResponse:
    problem = ("wrong bearer token" if request.headers.get("authorization")
               else "missing Authorization header")
    return _error(401, f"{problem}: send 'Authorization: Bearer <token>'",
                  {"WWW-Authenticate": "Bearer"})


Handler = Callable[["Request"], Awaitable["JSONResponse"]]


def _guarded(handler: Handler, token: bytes | None = None) -> Handler:
    """The handler, behind the bearer token when there is one, with every failure turned
    into a JSON error answer."""

    async def guarded(request: Request) -> JSONResponse:
        if token is not None and not authorized(request.headers.get("authorization"), token):
            return _unauthorized(request)
        try:
            return await handler(request)
        except InputError as exc:
            return _error(exc.status, exc.message)
        except PredictionError as exc:
            return _error(422, str(exc))
        except Exception as exc:
            LOG.exception("error while answering %s %s", request.method, request.url.path)
            return _error(500, f"internal error ({type(exc).__name__}); see the server log")

    return guarded


def create_app(model: Any, meta: Mapping[str, Any], info: Mapping[str, Any],
               max_body: int = DEFAULT_MAX_BODY, token: str | None = None,
               prediction_log: PredictionLog | None = None) -> Starlette:
    """The serving app for one loaded model.

    Args:
        model: The fitted model (a Pipeline taking the raw feature columns).
        meta: The model's metadata; `features` is the input signature.
        info: What /metadata reports besides the signature (name, version, digest, lineage).
        max_body: The largest request body accepted, in bytes (larger ones get 413).
        token: When given, the bearer token /metadata, /predict and /invocations require.
        prediction_log: When given, every answered prediction request is queued on it.

    Returns:
        A Starlette app.
    """
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.routing import Route

    features = list(meta.get("features") or [])
    secret = token.encode("utf-8") if token is not None else None
    metadata = {**info, "signature": signature(meta)}

    async def answer(request: Request, records: list[Any], full: bool) -> JSONResponse:
        from starlette.responses import JSONResponse

        frame = check_records(records, features)
        result = await run_in_threadpool(predict, model, meta, frame)
        body = result if full else {"predictions": result["predictions"]}
        if prediction_log is None:
            return JSONResponse(body)
        rid = request_id(request)
        prediction_log.submit(request.url.path, rid, records, result)
        return JSONResponse(body, headers={REQUEST_ID_HEADER: rid})

    async def health(request: Request) -> JSONResponse:
        return _ok({"status": "ok"})

    async def show_metadata(request: Request) -> JSONResponse:
        return _ok({**metadata, "classifier": is_classifier(model, meta)})

    async def predict_endpoint(request: Request) -> JSONResponse:
        payload = parse_json(await read_body(request, max_body))
        return await answer(request, predict_records(payload), full=True)

    async def invocations(request: Request) -> JSONResponse:
        payload = parse_json(await read_body(request, max_body))
        return await answer(request, invocation_records(payload), full=False)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, HTTPException):
            return _error(exc.status_code, f"{exc.detail}: {request.method} {request.url.path}")
        return _error(500, "internal error; see the server log")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if prediction_log is not None:  # uvicorn may end the process right after shutdown
            await run_in_threadpool(prediction_log.close)

    routes = [
        Route("/health", _guarded(health), methods=["GET"]),
        Route("/metadata", _guarded(show_metadata, secret), methods=["GET"]),
        Route("/predict", _guarded(predict_endpoint, secret), methods=["POST"]),
        Route("/invocations", _guarded(invocations, secret), methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan,
                     exception_handlers={HTTPException: http_error, Exception: http_error})


def _ok(body: Mapping[str, Any]) -> JSONResponse:
    from starlette.responses import JSONResponse

    return JSONResponse(dict(body))


def run_server(app: Starlette, host: str, port: int, log_level: str = "info") -> None:
    """Serve `app` with uvicorn until interrupted.

    Args:
        app: The app.
        host: Interface to listen on.
        port: TCP port.
        log_level: uvicorn's log level.
    """
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level=log_level)

"""The ASGI layer in front of the serving app: request framing, request ids and metrics.

A request that declares both `Transfer-Encoding` and `Content-Length`, or two different
`Content-Length`s, is ambiguous about where its body ends (the ground of request smuggling):
it is answered 400 at once and the connection closed, before any body is read. Every answer
carries `X-Request-ID` and is counted in the app's `Metrics`.

This module imports nothing from mlpipe, so bundles can ship it as is.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from .metrics import Metrics

REQUEST_ID_HEADER = "X-Request-ID"
_SCOPE_KEY = "mlpipe.request_id"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id(request: Request) -> str:
    """The request's id (see `Guard`): the client's X-Request-ID when usable, else a new one."""
    rid = request.scope.get(_SCOPE_KEY)
    if rid is None:
        rid = _choose(request.headers.get(REQUEST_ID_HEADER, ""))
    return str(rid)


def _choose(given: str) -> str:
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex


def framing_problem(headers: Sequence[tuple[bytes, bytes]]) -> str | None:
    """Why a request's body framing is ambiguous, or None when it is not."""
    encodings = [v for k, v in headers if k.lower() == b"transfer-encoding"]
    lengths = {v.strip() for k, v in headers if k.lower() == b"content-length"}
    if encodings and lengths:
        return "both Transfer-Encoding and Content-Length are set"
    if len(lengths) > 1:
        return "conflicting Content-Length headers"
    return None


class Guard:
    """Wraps an ASGI app: refuses ambiguous framing, sets request ids, records metrics.

    Attributes:
        app: The wrapped app.
        metrics: Where answered requests are counted.
        routes: The paths counted under their own name (others count as "other").
    """

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: Sequence[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = frozenset(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = scope.get("headers") or []
        given = next((v for k, v in headers if k.lower() == b"x-request-id"), b"")
        rid = _choose(given.decode("latin-1"))
        scope[_SCOPE_KEY] = rid
        path = scope.get("path", "") if scope.get("path") in self.routes else "other"
        status = 500
        problem = framing_problem(headers)

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message = {**message, "headers": [
                    *[(k, v) for k, v in message.get("headers", [])
                      if k.lower() != b"x-request-id"],
                    (b"x-request-id", rid.encode("latin-1"))]}
            await send(message)

        try:
            if problem is None:
                await self.app(scope, receive, answer)
            else:
                await _refuse(answer, f"ambiguous request framing: {problem}")
        finally:
            self.metrics.observe(path, status, time.perf_counter() - started)


async def _refuse(send: Send, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": 400, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})

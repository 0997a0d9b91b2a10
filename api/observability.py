"""Request ids, access logs and Prometheus metrics for the HTTP API.

:class:`Observe` wraps every request: it takes the caller's ``X-Request-ID`` (or makes one), answers with it,
opens the log context (engine/ops/logs.py), times the request by *route template* (``/projects/{project_id}``,
so the metric has one series per route, not per project) and writes one access-log line. ``GET /metrics``
serves the Prometheus text to a scraper holding ``GONGAI_METRICS_TOKEN``; without that variable metrics are off.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import problems
from engine.ops.logs import request_context
from engine.ops.metrics import REQUEST_SECONDS, exposition

METRICS_TOKEN_ENV = "GONGAI_METRICS_TOKEN"
access_log = logging.getLogger("gongai.access")
router = APIRouter(tags=["health"])


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers") or []:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if 0 < len(text) <= 100 and text.isprintable():
                return text
    return uuid.uuid4().hex


class Observe:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode("latin-1"))]
            await send(message)

        with request_context(request_id) as context:
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                elapsed = time.perf_counter() - started
                route = getattr(scope.get("route"), "path", None) or "unmatched"
                REQUEST_SECONDS.labels(scope["method"], route, str(status)).observe(elapsed)
                if context.get("project") is None:
                    context["project"] = (scope.get("path_params") or {}).get("project_id")
                access_log.info("%s %s %s", scope["method"], route, status, extra={
                    "method": scope["method"], "route": route, "status": status,
                    "duration_ms": round(elapsed * 1000, 1)})


@router.get("/metrics", summary="Prometheus metrics (needs the bearer token GONGAI_METRICS_TOKEN)",
            response_class=Response)
def metrics(request: Request) -> Response:
    expected = request.app.state.metrics_token
    if not expected:
        return problems.problem(404, f"metrics are off: set {METRICS_TOKEN_ENV} to the token Prometheus sends",
                                request.url.path)
    given = request.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
        return problems.problem(401, f"Authorization: send 'Authorization: Bearer <{METRICS_TOKEN_ENV}>'",
                                request.url.path, headers={"WWW-Authenticate": "Bearer"})
    body, content_type = exposition()
    return Response(body, media_type=content_type)


def metrics_token(explicit: str | None) -> str | None:
    return explicit if explicit is not None else (os.environ.get(METRICS_TOKEN_ENV) or None)

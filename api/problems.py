"""One error shape for every error: problem details (RFC 9457) with a message naming the field or rule.

Service errors (:mod:`engine.services.errors`), request-validation errors, HTTP errors, oversized bodies
and — as a last resort — unexpected exceptions all leave as ``application/problem+json`` with ``type``,
``title``, ``status``, ``detail`` and ``instance``. Nothing is half-written: the service layer rolls back
on any error before the handler runs.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, DisconnectionError, TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.ops.metrics import DB_UNAVAILABLE
from engine.persistence.incidents import is_outage
from engine.persistence.uow import ConcurrentUpdate
from engine.services.errors import ServiceError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "urn:gongai:problem:"
SLUGS = {400: "bad-request", 401: "unauthenticated", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
         409: "conflict", 413: "body-too-large", 415: "unsupported-media-type", 422: "invalid",
         429: "too-many-requests", 500: "internal", 503: "unavailable"}
#: What a client is told to wait before retrying while the database is unavailable (seconds).
RETRY_AFTER_SECONDS = 5


def problem(status: int, detail: str, instance: str, *, headers: dict[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    body = {"type": TYPE_BASE + SLUGS.get(status, str(status)), "title": HTTPStatus(status).phrase,
            "status": status, "detail": detail, "instance": instance, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _where(request: Request) -> str:
    return request.url.path


def _validation_detail(exc: RequestValidationError) -> tuple[int, str, list[dict[str, Any]]]:
    errors = []
    status = 422
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        if err.get("type") == "json_invalid":
            status = 400
        field = ".".join(p for p in loc[1:]) if loc and loc[0] in ("body", "query", "path", "header") else ".".join(loc)
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        errors.append({"field": field or loc[0] if loc else "", "in": loc[0] if loc else None, "message": msg})
    text = "; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors)
    if status == 400:
        text = "malformed JSON body: " + text
    return status, text or "invalid request", errors


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem."""

    @app.exception_handler(ServiceError)
    async def _service(request: Request, exc: ServiceError) -> JSONResponse:
        extra = {"problems": [str(p) for p in exc.problems]} if getattr(exc, "problems", None) else {}
        return problem(exc.status, str(exc), _where(request), headers=getattr(exc, "headers", None), **extra)

    @app.exception_handler(ConcurrentUpdate)
    async def _concurrent(request: Request, exc: ConcurrentUpdate) -> JSONResponse:
        return problem(409, f"{exc}: the project kept changing while this request ran", _where(request))

    @app.exception_handler(DBAPIError)
    @app.exception_handler(DisconnectionError)
    @app.exception_handler(PoolTimeout)
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        if not is_outage(exc):
            return await _unexpected(request, exc)
        # the pool checks idle connections before use (engine.persistence.db), so the next request after the outage works
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        DB_UNAVAILABLE.inc()
        return problem(503, "the database is unavailable; nothing was changed, retry later", _where(request),
                       headers={"Retry-After": str(RETRY_AFTER_SECONDS)})

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, detail, errors = _validation_detail(exc)
        return problem(status, detail, _where(request), errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route {request.method} {request.url.path}"
        return problem(exc.status_code, detail, _where(request), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:  # pragma: no cover - a bug
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, f"internal error ({type(exc).__name__}); nothing was changed", _where(request))


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, whether announced by Content-Length or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int = 1 << 20) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        path = scope.get("path", "")
        if length is not None:
            try:
                too_big = int(length) > self.max_bytes
            except ValueError:
                await _send(problem(400, "Content-Length: not a number", path), scope, receive, send)
                return
            if too_big:
                await _send(self._problem(path), scope, receive, send)
                return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(413, f"request body exceeds the limit of {self.max_bytes} bytes")
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _send(self._problem(path), scope, receive, send)

    def _problem(self, path: str) -> JSONResponse:
        return problem(413, f"request body exceeds the limit of {self.max_bytes} bytes", path)


class _TooLarge(StarletteHTTPException):
    """Raised while the body streams in; FastAPI re-raises HTTP exceptions from body parsing as they are."""


async def _send(response: JSONResponse, scope: Scope, receive: Receive, send: Send) -> None:
    await response(scope, receive, send)

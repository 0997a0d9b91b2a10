"""Structured logs: one JSON object per line with the request id, the actor and the project, never a token.

``configure_logging()`` sets up the root logger for ``gongai serve`` and ``gongai worker``
(``GONGAI_LOG_FORMAT=json``, the default, or ``text`` for a terminal). The HTTP layer opens a
:func:`request_context` per request; anything logged while it runs — by the API, the service layer or
SQLAlchemy — carries ``request_id``, ``actor`` and ``project``. Bearer tokens are never logged on purpose,
and :class:`RedactTokens` scrubs anything token-shaped that an exception message might still carry.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pythonjsonlogger.json import JsonFormatter

FORMAT_ENV = "GONGAI_LOG_FORMAT"
LEVEL_ENV = "GONGAI_LOG_LEVEL"
CONTEXT_FIELDS = ("request_id", "actor", "project")

# A mutable holder per request: route handlers run in worker threads with a *copy* of the context, so they
# fill in this dict (the same object) rather than setting variables the middleware would not see.
_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("gongai_log_context", default=None)

_TOKEN = re.compile(r"(?i)(bearer\s+|token[=:]\s*)[A-Za-z0-9._~+/=-]{8,}")


@contextmanager
def request_context(request_id: str) -> Iterator[dict[str, Any]]:
    values: dict[str, Any] = {"request_id": request_id, "actor": None, "project": None}
    token = _context.set(values)
    try:
        yield values
    finally:
        _context.reset(token)


def note(**values: Any) -> None:
    """Add ``actor=…`` / ``project=…`` to the current request's log context (no-op outside a request)."""
    current = _context.get()
    if current is not None:
        current.update({k: v for k, v in values.items() if v is not None})


class ContextFilter(logging.Filter):
    """Put the request context on every record (explicit ``extra={"project": …}`` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = _context.get() or {}
        for name in CONTEXT_FIELDS:
            if getattr(record, name, None) is None:
                setattr(record, name, current.get(name))
        return True


class RedactTokens(logging.Filter):
    """Replace anything shaped like ``Bearer <token>`` in the message with ``Bearer [redacted]``."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def redact(text: str) -> str:
    return _TOKEN.sub(lambda m: m.group(1) + "[redacted]", text)


class _Json(JsonFormatter):
    def formatException(self, ei) -> str:  # noqa: N802 - logging's name
        return redact(super().formatException(ei))

    def add_fields(self, log_record: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_record, record, message_dict)
        log_record.pop("color_message", None)  # uvicorn's ANSI-coloured copy of the message
        for name in CONTEXT_FIELDS:
            if log_record.get(name) is None:
                log_record.pop(name, None)


class _Text(logging.Formatter):
    def formatException(self, ei) -> str:  # noqa: N802 - logging's name
        return redact(super().formatException(ei))


def json_formatter() -> logging.Formatter:
    return _Json("{asctime}{levelname}{name}{message}", style="{", rename_fields={
        "asctime": "time", "levelname": "level", "name": "logger"}, json_ensure_ascii=False)


def configure_logging(fmt: str | None = None, level: str | None = None) -> None:
    """Root logging for a gongai process: JSON lines on stderr (or text), with context and redaction."""
    fmt = (fmt or os.environ.get(FORMAT_ENV) or "json").lower()
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "text":
        handler.setFormatter(_Text("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(json_formatter())
    install_filters(handler)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel((level or os.environ.get(LEVEL_ENV) or "INFO").upper())
    # alembic announces its context on every schema check (/readyz, several times a minute): keep its warnings
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    # SpiffWorkflow logs every task state change at INFO (``spiff.task``, ``spiff.workflow``): ~50 lines per
    # completion, a fifth of a server's CPU in formatting and the handler's lock (issue 14); the ledger already
    # records what happened. They still show when the root level is DEBUG.
    if root.level > logging.DEBUG:
        logging.getLogger("spiff").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def install_filters(handler: logging.Handler) -> None:
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactTokens())

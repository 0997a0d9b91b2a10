"""Refuse JSON bodies that Python's parser accepts but no one should store: non-finite numbers and lone
surrogates.

``json.loads`` reads ``NaN``, ``Infinity`` and ``1e309`` (→ ``inf``) as floats; stored again they become
``Infinity`` in a JSON column, which is not JSON. A ``"\\ud800"`` escape becomes a lone surrogate that cannot
be encoded as UTF-8, so the first write (or a deployed BPMN file) fails with a 500. This middleware reads a
JSON body once (the body limit runs before it), and answers 422 naming the field when it finds either; the
application then reads the same bytes.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem

class _Rejected(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _constant(name: str) -> Any:
    return _NonFinite(name)


class _NonFinite:
    def __init__(self, text: str) -> None:
        self.text = text


def _float(text: str) -> Any:
    value = float(text)
    return value if math.isfinite(value) else _NonFinite(text)


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check(value: Any, path: str = "") -> None:
    """Raise :class:`_Rejected` at the first non-finite number or lone surrogate in ``value``."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, _NonFinite):
            raise _Rejected(where, f"{item.text} is not a finite number (JSON numbers must be finite)")
        if isinstance(item, str):
            if _has_lone_surrogate(item):
                raise _Rejected(where, "contains a lone surrogate (\\ud800–\\udfff), which is not valid Unicode text")
        elif isinstance(item, dict):
            for key, sub in item.items():
                if _has_lone_surrogate(key):
                    raise _Rejected(where or "body", "a key contains a lone surrogate, which is not valid Unicode text")
                stack.append((f"{where}.{key}" if where else key, sub))
        elif isinstance(item, list):
            stack.extend((f"{where}[{i}]" if where else f"[{i}]", sub) for i, sub in enumerate(item))


class JsonGuard:
    """ASGI middleware: JSON request bodies with non-finite numbers or lone surrogates are a 422."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        content_type = dict(scope.get("headers") or []).get(b"content-type", b"")
        if b"json" not in content_type.lower():
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        messages: list[Message] = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            check(json.loads(body, parse_constant=_constant, parse_float=_float))
        except _Rejected as exc:
            response = problem(422, f"{exc.field or 'body'}: {exc}", scope.get("path", ""),
                               errors=[{"field": exc.field, "in": "body", "message": str(exc)}])
            await response(scope, receive, send)
            return
        except (ValueError, RecursionError):
            pass  # malformed JSON: the application answers 400 as before

        replay = iter(messages)

        async def replayed() -> Message:
            try:
                return next(replay)
            except StopIteration:
                return await receive()

        await self.app(scope, replayed, send)

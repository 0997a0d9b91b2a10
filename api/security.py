"""HTTP hardening that is no route's business: security headers on every response, and a limit on failed
authentication per client address.

The Content-Security-Policy admits only the server's own origin (``'self'``): the web pages serve their own
scripts and styles from ``/static``, and nothing is loaded from the internet (government networks are
isolated). The interactive API docs (``/docs``, ``/redoc``) are FastAPI's, which load their scripts from a CDN;
they get a policy that allows exactly that, so they keep working where the CDN is reachable.

:class:`FailedAuthLimiter` counts bad bearer tokens per client address in a sliding window; past the limit
the address gets 429 (with ``Retry-After``) for every authenticated request until the window has passed —
guessing tokens becomes slow, and the database is not asked for each guess.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.services.errors import ServiceError

CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
                           "form-action 'self'; frame-ancestors 'none'")
DOCS_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
               "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
               "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
               "font-src 'self' https://fonts.gstatic.com; worker-src 'self' blob:; object-src 'none'; "
               "frame-ancestors 'none'")
DOCS_PATHS = ("/docs", "/redoc")
HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
"""Headers every response carries unless the route set its own."""


class SecurityHeaders:
    """ASGI middleware adding :data:`HEADERS`, the CSP, and HSTS over HTTPS, without overriding a route's own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        policy = DOCS_POLICY if path.startswith(DOCS_PATHS) else CONTENT_SECURITY_POLICY
        extra = {**HEADERS, "Content-Security-Policy": policy}
        if scope.get("scheme") == "https":
            extra["Strict-Transport-Security"] = "max-age=31536000"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                headers += [(k.lower().encode(), v.encode()) for k, v in extra.items() if k.lower().encode() not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class TooManyFailures(ServiceError):
    """Too many failed authentications from one address: 429 with ``Retry-After``."""

    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after)}


class FailedAuthLimiter:
    """At most ``max_failures`` failed authentications per client address in ``window`` seconds.

    Kept in memory per process (a restart forgets it), for at most ``max_addresses`` addresses (the
    least recently failing are forgotten first), so a flood of addresses cannot grow it without bound.
    """

    def __init__(self, max_failures: int = 20, window: float = 300.0, *, max_addresses: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window = window
        self.max_addresses = max_addresses
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, address: str, now: float) -> deque[float] | None:
        failures = self._failures.get(address)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return None
        return failures

    def check(self, address: str) -> None:
        """Raise :class:`TooManyFailures` while ``address`` is locked out."""
        now = self.clock()
        failures = self._recent(address, now)
        if failures is not None and len(failures) >= self.max_failures:
            retry = max(1, int(failures[0] + self.window - now) + 1)
            raise TooManyFailures(f"Authorization: {len(failures)} failed attempts from this address; try again in "
                                  f"{retry} s", retry)

    def failed(self, address: str) -> None:
        now = self.clock()
        failures = self._recent(address, now) or deque()
        failures.append(now)
        self._failures[address] = failures
        self._failures.move_to_end(address)
        while len(self._failures) > self.max_addresses:
            self._failures.popitem(last=False)

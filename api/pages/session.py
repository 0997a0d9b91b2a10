"""Browser sessions: a signed cookie instead of a bearer header, and a CSRF token on every form.

A user signs in with its name and the token ``gongai users add`` printed (the same credential the API takes,
so there is one user store and one way to revoke: ``DELETE /admin/users/{name}`` ends the API token and the
browser session alike). Passwords are not added: a second secret per user would need its own reset and
rotation story, while the token is already a 256-bit secret the administrator hands out.

The cookie holds the user name, the SHA-256 of the token (never the token) and the session's CSRF token,
signed with ``itsdangerous`` (HMAC, timestamped: sessions expire after ``SESSION_SECONDS``). It is HttpOnly
and SameSite=Lax; ``Secure`` when the request came over HTTPS. The signing key is ``GONGAI_SESSION_SECRET``,
or a random one per process (sessions then end when the server restarts; several workers need the variable).

The API never reads this cookie: API calls authenticate with the bearer header only, so a cross-site form
cannot ride on a browser session to reach the JSON routes.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from engine.domain.actors import Actor
from engine.services.users import hash_token

COOKIE = "gongai_session"
SESSION_SECONDS = 8 * 3600  # a working day
_SALT = "gongai.pages.session"


@dataclass
class Session:
    """What the cookie carries; ``actor`` is resolved against the user store on every request."""

    csrf: str
    user: str | None = None
    digest: str | None = None
    actor: Actor | None = None
    dirty: bool = False


def _serializer(request: Request) -> URLSafeTimedSerializer:
    state = request.app.state
    if getattr(state, "session_serializer", None) is None:
        secret = os.environ.get("GONGAI_SESSION_SECRET") or secrets.token_urlsafe(32)
        state.session_serializer = URLSafeTimedSerializer(secret, salt=_SALT)
    return state.session_serializer


def load(request: Request) -> Session:
    """The request's session (a fresh anonymous one when the cookie is missing, forged or expired)."""
    cached = getattr(request.state, "page_session", None)
    if cached is not None:
        return cached
    session = Session(csrf=secrets.token_urlsafe(24), dirty=True)
    raw = request.cookies.get(COOKIE)
    if raw:
        try:
            data: dict[str, Any] = _serializer(request).loads(raw, max_age=SESSION_SECONDS)
            session = Session(csrf=str(data["c"]), user=data.get("u"), digest=data.get("d"))
        except (BadSignature, KeyError, TypeError):
            pass
    if session.user and session.digest:
        actor = request.app.state.users.actor_for_digest(session.digest)
        if actor is not None and actor.id == session.user:
            session.actor = actor
        else:  # the token was revoked or the user changed: the session ends
            session.user = session.digest = None
            session.dirty = True
    request.state.page_session = session
    return session


def sign_in(request: Request, name: str, token: str) -> Actor | None:
    """Start a session for ``name`` if ``token`` is its active token; a new CSRF token either way."""
    session = load(request)
    actor = request.app.state.users.actor_for_token(token.strip())
    if actor is None or actor.id != name.strip():
        return None
    session.user, session.digest, session.actor = actor.id, hash_token(token.strip()), actor
    session.csrf = secrets.token_urlsafe(24)  # no fixation: a signed-in session never keeps the anonymous token
    session.dirty = True
    return actor


def sign_out(request: Request) -> None:
    session = load(request)
    session.user = session.digest = None
    session.actor = None
    session.csrf = secrets.token_urlsafe(24)
    session.dirty = True


def csrf_ok(request: Request, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(load(request).csrf, str(submitted))


def save(request: Request, response: Response) -> Response:
    """Write the cookie back when the session changed (sign-in, sign-out, first visit)."""
    session = getattr(request.state, "page_session", None)
    if session is not None and session.dirty:
        value = _serializer(request).dumps({"c": session.csrf, "u": session.user, "d": session.digest})
        response.set_cookie(COOKIE, value, max_age=SESSION_SECONDS, httponly=True, samesite="lax",
                            secure=request.url.scheme == "https", path="/")
    return response

"""Bearer-token authentication and role gates.

Every route except the health probes depends on :func:`current_actor`; role gates (:func:`require`) say
which kinds of user a route serves. Finer rules — which project, which department's task — are the
service layer's and :mod:`engine.services.queries`' business, not a route's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from engine.domain.actors import Actor
from engine.ops.logs import note
from engine.services.approval import ApprovalService
from engine.services.errors import Forbidden, ServiceError
from engine.services.users import UserStore

_bearer = HTTPBearer(auto_error=False, description="a token printed by `gongai users add`")


class Unauthenticated(ServiceError):
    status = 401


def service(request: Request) -> ApprovalService:
    return request.app.state.service


def users(request: Request) -> UserStore:
    return request.app.state.users


async def current_actor(request: Request,
                        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Actor:
    """The request's user. Async so that a token this process resolved a moment ago (``UserStore.cached_actor``)
    is answered on the event loop: a sync dependency is handed to a worker thread and back, which cost more than
    the look-up (issue 14); only a database read goes to a thread."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("Authorization: send 'Authorization: Bearer <token>' (tokens come from `gongai users add`)")
    limiter = getattr(request.app.state, "auth_limiter", None)
    address = request.client.host if request.client else "unknown"
    if limiter is not None:
        limiter.check(address)
    store: UserStore = request.app.state.users
    actor = store.cached_actor(credentials.credentials)
    if actor is None:
        actor = await run_in_threadpool(store.actor_for_token, credentials.credentials)
    if actor is None:
        if limiter is not None:
            limiter.failed(address)
        raise Unauthenticated("Authorization: unknown, revoked or expired token (`gongai users reissue` issues a new one)")
    note(actor=actor.id, project=request.path_params.get("project_id"))  # the request's log context
    return actor


ROLE_NAMES = {"owner": "project owners (建设单位)", "agent": "agents (帮办代办)", "window": "window officers (综合窗口)",
              "agency": "agency officers (审批部门)", "lead": "lead-department officers (牵头部门)",
              "analyst": "analysts (工改办)", "admin": "administrators"}


def require(*roles: str) -> Callable[..., Actor]:
    """A dependency admitting only ``roles``; anyone else gets 403 naming who may."""

    def gate(actor: Actor = Depends(current_actor)) -> Actor:
        if actor.role not in roles:
            who = ", ".join(ROLE_NAMES.get(r, r) for r in roles)
            raise Forbidden(f"role '{actor.role}' may not do this; only {who} may")
        return actor

    return gate


def public(row: dict[str, Any]) -> dict[str, Any]:
    from datetime import datetime

    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}

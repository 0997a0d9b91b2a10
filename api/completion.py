"""Completing a task, filing or withdrawing a project over HTTP: idempotency keys and optimistic-lock retries
around the service call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Header, Request
from sqlalchemy.exc import IntegrityError

from engine.domain.actors import Actor
from engine.ops.metrics import COMPLETIONS
from engine.services.errors import Conflict
from engine.services.idempotency import IdempotencyStore, request_hash

#: The header every completing route accepts (one definition for all routes).
IdemKey = Header(default=None, alias="Idempotency-Key", max_length=200,
                 description="a retried request with the same key does the work once")


def complete(request: Request, actor: Actor, task_id: str, payload: dict[str, Any],
             idempotency_key: str | None) -> dict[str, Any]:
    """Complete ``task_id`` once. With a key, a retry returns the first response instead of working again."""
    service = request.app.state.service
    digest = request_hash(request.url.path, task_id, payload)
    result = once(request, actor, idempotency_key, digest,
                  lambda record: service.complete_task(task_id, payload, actor=actor, also=record))
    COMPLETIONS.labels(actor.role).inc()
    return result


def once(request: Request, actor: Actor, idempotency_key: str | None, digest: str,
         work: Callable[[Callable[[Any, Any], None] | None], Any], *, status: int = 200,
         replay: Callable[[Any], Any] = lambda stored: stored) -> Any:
    """Run ``work`` once per key: it gets a hook to call inside its transaction with the response to store.

    Without a key, ``work(None)`` runs. Optimistic-lock retries are the service layer's (``ApprovalService._operate``
    runs an operation again on the new state), never repeated here. With one, an earlier response under the
    key is returned through ``replay`` (which may rebuild the full representation from what was stored).
    """
    store: IdempotencyStore = request.app.state.idempotency
    if not isinstance(idempotency_key, str):  # None, or the Header default when a page calls the route function
        idempotency_key = None
    if idempotency_key is None:
        return work(None)
    stored = store.lookup(actor.id, idempotency_key, digest)
    if stored is not None:
        return replay(stored[1])
    record = store.recorder(actor.id, idempotency_key, digest, status)
    try:
        return work(record)
    except (Conflict, IntegrityError):
        # a concurrent retry with the same key may have won the race: answer as it did
        stored = store.lookup(actor.id, idempotency_key, digest)
        if stored is not None:
            return replay(stored[1])
        raise

"""Completing a task over HTTP: idempotency keys and optimistic-lock retries around the service call."""

from __future__ import annotations

from typing import Any

from fastapi import Header, Request
from sqlalchemy.exc import IntegrityError

from api.auth import retrying
from engine.domain.actors import Actor
from engine.services.errors import Conflict
from engine.services.idempotency import IdempotencyStore, request_hash

#: The header every completing route accepts (one definition for all routes).
IdemKey = Header(default=None, alias="Idempotency-Key", max_length=200,
                 description="a retried request with the same key does the work once")


def complete(request: Request, actor: Actor, task_id: str, payload: dict[str, Any],
             idempotency_key: str | None) -> dict[str, Any]:
    """Complete ``task_id`` once. With a key, a retry returns the first response instead of working again."""
    service = request.app.state.service
    store: IdempotencyStore = request.app.state.idempotency
    if idempotency_key is None:
        return retrying(lambda: service.complete_task(task_id, payload, actor=actor))
    digest = request_hash(request.url.path, task_id, payload)
    stored = store.lookup(actor.id, idempotency_key, digest)
    if stored is not None:
        return stored[1]
    record = store.recorder(actor.id, idempotency_key, digest)
    try:
        return retrying(lambda: service.complete_task(task_id, payload, actor=actor, also=record))
    except (Conflict, IntegrityError):
        # a concurrent retry with the same key may have won the race: answer as it did
        stored = store.lookup(actor.id, idempotency_key, digest)
        if stored is not None:
            return stored[1]
        raise

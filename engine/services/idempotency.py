"""Idempotency keys (``Idempotency-Key`` header) for completions.

The key and the response are written in the same transaction as the completion itself (through the
``also`` hook of :meth:`ApprovalService.complete_task`), so a retried request either finds the stored
response or does the work — never both, never twice. Keys are scoped per user.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine, insert, select

from engine.persistence import tables as t
from engine.persistence.uow import UnitOfWork
from engine.services.errors import Invalid

MAX_KEY_LENGTH = 200


def request_hash(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False).encode()).hexdigest()


class IdempotencyStore:
    def __init__(self, db: Engine) -> None:
        self.db = db

    def lookup(self, actor: str, key: str, digest: str) -> tuple[int, Any] | None:
        """The stored (status, response) of an earlier request with this key, or None."""
        check_key(key)
        with self.db.connect() as conn:
            row = conn.execute(select(t.idempotency_keys).where(
                (t.idempotency_keys.c.actor == actor) & (t.idempotency_keys.c.key == key))).mappings().first()
        if row is None:
            return None
        if row["request_hash"] != digest:
            raise Invalid(f"Idempotency-Key: key '{key}' was already used for a different request")
        return row["status"], row["response"]

    @staticmethod
    def recorder(actor: str, key: str, digest: str, status: int = 200) -> Callable[[UnitOfWork, Any], None]:
        """A hook that stores ``key → response`` inside the caller's transaction."""

        def record(uow: UnitOfWork, response: Any) -> None:
            uow.conn.execute(insert(t.idempotency_keys).values(
                actor=actor, key=key, request_hash=digest, status=status, response=response,
                created_at=datetime.now(timezone.utc)))

        return record


def check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise Invalid(f"Idempotency-Key: 1–{MAX_KEY_LENGTH} printable characters")

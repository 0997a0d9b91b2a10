"""Users of the HTTP API and their bearer tokens.

A token is shown once, when the user is created, and only its SHA-256 is stored: a stolen database
does not hand out working tokens. Tokens are 256-bit random strings, so a fast hash is enough (no
password stretching is needed for secrets nobody chose). Lookup compares digests in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Engine, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from engine.domain.actors import Actor
from engine.domain.authorisation import DEPARTMENT_SIDE
from engine.persistence import tables as t
from engine.persistence.audit import append_admin_event
from engine.services.errors import Conflict, Invalid, NotFound

#: roles a user may have (the engine's own ``system`` actor is not a user)
USER_ROLES = ("owner", "agent", "window", "agency", "lead", "analyst", "admin")
_NAME = re.compile(r"^[A-Za-z0-9_.\-@\u4e00-\u9fff]{1,100}$")


DEFAULT_TOKEN_TTL_DAYS = 90
"""Days a token stays valid after it was issued (``GONGAI_TOKEN_TTL_DAYS``; 0 = tokens do not expire)."""


def token_ttl_from_environment() -> timedelta | None:
    """The token lifetime configured by ``GONGAI_TOKEN_TTL_DAYS`` (default 90 days; 0 means no expiry)."""
    raw = os.environ.get("GONGAI_TOKEN_TTL_DAYS", "").strip()
    try:
        days = int(raw) if raw else DEFAULT_TOKEN_TTL_DAYS
    except ValueError:
        raise ValueError(f"GONGAI_TOKEN_TTL_DAYS must be a whole number of days, not {raw!r}") from None
    return timedelta(days=days) if days > 0 else None


DEFAULT_AUTH_CACHE_SECONDS = 5.0
"""Seconds a serving process reuses a token's user without asking the database (``GONGAI_AUTH_CACHE_SECONDS``)."""


def auth_cache_from_environment() -> timedelta | None:
    """How long ``gongai serve`` remembers a token's user (``GONGAI_AUTH_CACHE_SECONDS``, default 5; 0 = ask the
    database on every request): the bound within which a revocation made by another process takes effect."""
    raw = os.environ.get("GONGAI_AUTH_CACHE_SECONDS", "").strip()
    try:
        seconds = float(raw) if raw else DEFAULT_AUTH_CACHE_SECONDS
    except ValueError:
        raise ValueError(f"GONGAI_AUTH_CACHE_SECONDS must be a number of seconds, not {raw!r}") from None
    if not 0 <= seconds <= 60:
        raise ValueError(f"GONGAI_AUTH_CACHE_SECONDS must be between 0 and 60 seconds, not {raw!r}")
    return timedelta(seconds=seconds) if seconds > 0 else None


class _ActorCache:
    """Token digest → (actor, token issue time, when it was read), kept for ``bound`` after the read.

    Only users found active are kept (an unknown token is never cached: guessing cannot fill it), at most
    ``max_entries`` (the oldest read goes first). Every request asks the database at least once per ``bound``, so
    a user revoked, reissued or changed by another process is refused within ``bound``; this process's own
    changes evict the user at once (:meth:`forget_user`).
    """

    def __init__(self, bound: timedelta, max_entries: int = 10_000) -> None:
        self.bound, self.max_entries = bound, max_entries
        self._entries: dict[str, tuple[Actor, datetime | None, datetime]] = {}
        self._lock = threading.Lock()

    def get(self, digest: str, now: datetime) -> tuple[Actor, datetime | None] | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        actor, issued, read_at = entry
        if not timedelta(0) <= now - read_at < self.bound:  # stale (or the clock went back): ask again
            with self._lock:
                self._entries.pop(digest, None)
            return None
        return actor, issued

    def put(self, digest: str, actor: Actor, issued: datetime | None, now: datetime) -> None:
        with self._lock:
            self._entries.pop(digest, None)
            while len(self._entries) >= self.max_entries:
                del self._entries[next(iter(self._entries))]
            self._entries[digest] = (actor, issued, now)

    def forget_user(self, name: str) -> None:
        with self._lock:
            for digest in [d for d, (actor, _, _) in self._entries.items() if actor.id == name]:
                del self._entries[digest]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class UserStore:
    """Create, list, disable users; resolve a bearer token to an :class:`Actor`.

    ``cache_for``: how long a resolved token's user is reused without a database read (``gongai serve`` passes
    :func:`auth_cache_from_environment`; None, the default, reads on every call). Revocation then takes effect at
    once in this store's process and within ``cache_for`` in any other; the token's own expiry stays exact.
    """

    def __init__(self, db: Engine, *, departments: Iterable[str] | None = None,
                 token_ttl: timedelta | None | str = "environment",
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 cache_for: timedelta | None = None) -> None:
        self.db = db
        self.departments = set(departments) if departments is not None else None
        self.token_ttl = token_ttl_from_environment() if token_ttl == "environment" else token_ttl
        self.now = now
        self._cache = _ActorCache(cache_for) if cache_for else None

    def add(self, name: str, role: str, *, department: str | None = None,
            owner_ids: Iterable[str] = (), by: str = "cli") -> tuple[dict[str, Any], str]:
        """Create a user; returns (user, token). The token is not stored and cannot be shown again.

        ``by`` (the administrator, or ``cli`` for the command line) is recorded in the audit chain.
        """
        if not _NAME.match(name or ""):
            raise Invalid("name: 1–100 letters, digits, '_', '.', '-', '@' or Chinese characters")
        department, owners = self._check_role(role, department, owner_ids)
        token = secrets.token_urlsafe(32)
        row = dict(name=name, role=role, department=department, owner_ids=owners, token_hash=hash_token(token),
                   created_at=datetime.now(timezone.utc), disabled=False)
        try:
            with self.db.begin() as conn:
                conn.execute(insert(t.users).values(**row))
                append_admin_event(conn, "user_created", actor=by, subject=name, at=row["created_at"],
                                   data={"role": role, "department": department, "owner_ids": owners})
        except IntegrityError:
            raise Conflict(f"name: user '{name}' already exists") from None
        return _public(row), token

    def _check_role(self, role: str, department: str | None, owner_ids: Iterable[str]) -> tuple[str | None, list[str]]:
        """The (department, owners) a user of ``role`` gets, or the refusal naming the field."""
        owners = sorted(set(owner_ids))
        if role not in USER_ROLES:
            raise Invalid(f"role: unknown role '{role}' (known: {', '.join(USER_ROLES)})")
        if role in DEPARTMENT_SIDE:
            if not department:
                raise Invalid(f"department: a user of role '{role}' belongs to exactly one department")
            if self.departments is not None and department not in self.departments:
                raise Invalid(f"department: unknown department '{department}' "
                              f"(known: {', '.join(sorted(self.departments))})")
        elif role == "window":
            department = department or "window"
        elif department:
            raise Invalid(f"department: role '{role}' has no department")
        if role == "agent" and not owners:
            raise Invalid("owner_ids: an agent (帮办代办) acts only for named owners; give at least one")
        if role != "agent" and owners:
            raise Invalid(f"owner_ids: only an agent acts for owners, not role '{role}'")
        return department, owners

    def change_role(self, name: str, role: str, *, department: str | None = None, owner_ids: Iterable[str] = (),
                    by: str = "cli") -> dict[str, Any]:
        """Give a user another role (and department / principals); recorded with ``by`` in the audit chain."""
        department, owners = self._check_role(role, department, owner_ids)
        with self.db.begin() as conn:
            before = conn.execute(select(t.users).where(t.users.c.name == name)).mappings().first()
            if before is None:
                raise NotFound(f"user '{name}' does not exist")
            conn.execute(update(t.users).where(t.users.c.name == name)
                         .values(role=role, department=department, owner_ids=owners))
            append_admin_event(conn, "user_role_changed", actor=by, subject=name, data={
                "from": {"role": before["role"], "department": before["department"]},
                "to": {"role": role, "department": department, "owner_ids": owners}})
        self._forget(name)
        return self.get(name)

    def list(self) -> list[dict[str, Any]]:
        with self.db.connect() as conn:
            rows = conn.execute(select(t.users).order_by(t.users.c.name)).mappings()
            return [_public(dict(r)) for r in rows]

    def get(self, name: str) -> dict[str, Any]:
        with self.db.connect() as conn:
            row = conn.execute(select(t.users).where(t.users.c.name == name)).mappings().first()
        if row is None:
            raise NotFound(f"user '{name}' does not exist")
        return _public(dict(row))

    def disable(self, name: str, *, by: str = "cli") -> dict[str, Any]:
        """Revoke a user's token (users are never deleted: the event log names them); recorded with ``by``."""
        with self.db.begin() as conn:
            result = conn.execute(update(t.users).where(t.users.c.name == name).values(disabled=True))
            if result.rowcount != 1:
                raise NotFound(f"user '{name}' does not exist")
            append_admin_event(conn, "user_revoked", actor=by, subject=name)
        self._forget(name)
        return self.get(name)

    def reissue(self, name: str, *, by: str = "cli") -> tuple[dict[str, Any], str]:
        """A new token for ``name`` (the old one stops working; a revoked user is enabled again). The user's
        ``created_at`` becomes the new token's issue time, from which its expiry counts."""
        token = secrets.token_urlsafe(32)
        with self.db.begin() as conn:
            result = conn.execute(update(t.users).where(t.users.c.name == name).values(
                token_hash=hash_token(token), created_at=self.now(), disabled=False))
            if result.rowcount != 1:
                raise NotFound(f"user '{name}' does not exist")
            append_admin_event(conn, "user_token_reissued", actor=by, subject=name)
        self._forget(name)
        return self.get(name), token

    def actor_for_token(self, token: str) -> Actor | None:
        """The active user holding ``token``, or None (unknown, revoked, or issued longer ago than the TTL)."""
        if not token:
            return None
        return self.actor_for_digest(hash_token(token))

    def cached_actor(self, token: str) -> Actor | None:
        """The token's user if this process read it within ``cache_for`` and the token has not expired; None
        means "ask :meth:`actor_for_token`" (it may still be valid). Never touches the database, so an async
        caller can answer without handing the request to a thread."""
        if self._cache is None or not token:
            return None
        now = self.now()
        cached = self._cache.get(hash_token(token), now)
        if cached is None or self._expired(cached[1], now):
            return None
        return cached[0]

    def actor_for_digest(self, digest: str) -> Actor | None:
        """The active user whose token hashes to ``digest``, or None: a browser session keeps only the digest
        of the token it signed in with, so revoking the token ends the session too."""
        if not digest:
            return None
        now = self.now()
        cached = self._cache.get(digest, now) if self._cache is not None else None
        if cached is not None:
            actor, issued = cached
            return None if self._expired(issued, now) else actor
        with self.db.connect() as conn:
            row = conn.execute(_USER_BY_DIGEST, {"digest": digest}).mappings().first()
        if row is None or row["disabled"] or not hmac.compare_digest(row["token_hash"], digest):
            return None
        issued = row.get("created_at")
        if issued is not None and issued.tzinfo is None:
            issued = issued.replace(tzinfo=timezone.utc)
        if self._expired(issued, now):
            return None
        actor = to_actor(dict(row))
        if self._cache is not None:
            self._cache.put(digest, actor, issued, now)
        return actor

    def _expired(self, issued: datetime | None, now: datetime) -> bool:
        return self.token_ttl is not None and issued is not None and now - issued > self.token_ttl

    def _forget(self, name: str) -> None:
        if self._cache is not None:
            self._cache.forget_user(name)


_USER_BY_DIGEST = select(t.users).where(t.users.c.token_hash == bindparam("digest"))


def to_actor(row: dict[str, Any]) -> Actor:
    return Actor(id=row["name"], role=row["role"], department=row.get("department"),
                 owner_ids=frozenset(row.get("owner_ids") or ()))


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {"name": row["name"], "role": row["role"], "department": row.get("department"),
            "owner_ids": list(row.get("owner_ids") or []), "disabled": bool(row.get("disabled")),
            "created_at": row["created_at"].isoformat() if row.get("created_at") else None}

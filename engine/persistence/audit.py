"""The tamper-evident event log: every event is chained to the one before it by a hash.

Design (docs/operations.md, "Audit"):

- One chain per project (``project:<id>``): the events of a project are written while its row is locked, so
  appending needs no global lock and processes never contend across projects. Administrative events (users
  created, roles changed, tokens revoked) form one more chain, ``admin``, in ``admin_events``.
- An event's ``hash`` = SHA-256 over the previous event's hash and the event's canonical JSON (every column
  but ``id``); the first event of a chain links to 64 zeros. ``seq`` numbers the chain's events 1, 2, 3 ….
- ``audit_heads`` holds each chain's last ``seq`` and ``hash``, so deleting the newest events shows too.
- With ``GONGAI_AUDIT_KEY`` set (kept off the database host), the hash is an HMAC: someone who can write the
  database but does not hold the key cannot recompute a consistent chain after editing it. Without a key the
  chain still reveals any change made without recomputing every later hash.

:func:`verify` walks every chain and names each edited, deleted or inserted row (``gongai audit verify``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from engine.persistence import tables as t

KEY_ENV = "GONGAI_AUDIT_KEY"
GENESIS = "0" * 64
EVENT_FIELDS = ("project_id", "seq", "at", "type", "project_type", "stage", "matter_key", "matter_id",
                "department", "actor", "task_id", "data")
ADMIN_FIELDS = ("seq", "at", "type", "actor", "subject", "data")
ADMIN_CHAIN = "admin"


def project_chain(project_id: str) -> str:
    return f"project:{project_id}"


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat(timespec="microseconds")
    return value


def digest(previous: str, row: Mapping[str, Any], fields: Iterable[str]) -> str:
    body = json.dumps({f: _canonical(row.get(f)) for f in fields}, sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"), default=str)
    message = (previous + body).encode("utf-8")
    key = os.environ.get(KEY_ENV)
    if key:
        return hmac.new(key.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return hashlib.sha256(message).hexdigest()


_HEAD = (select(t.audit_heads.c.seq, t.audit_heads.c.hash).where(t.audit_heads.c.chain == bindparam("chain"))
         .with_for_update())
_INSERT_HEAD = insert(t.audit_heads)
_UPDATE_HEAD = (update(t.audit_heads).where(t.audit_heads.c.chain == bindparam("the_chain"))
                .values(seq=bindparam("new_seq"), hash=bindparam("new_hash")))
#: moves the head only if it is still the one this process last saw (one statement instead of a read and a write)
_MOVE_KNOWN_HEAD = (update(t.audit_heads).where(t.audit_heads.c.chain == bindparam("the_chain"),
                                                t.audit_heads.c.seq == bindparam("was_seq"),
                                                t.audit_heads.c.hash == bindparam("was_hash"))
                    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash")))


def _head(conn: Connection, chain: str) -> tuple[int, str, bool]:
    row = conn.execute(_HEAD, {"chain": chain}).first()
    return (int(row.seq), row.hash, True) if row else (0, GENESIS, False)


def _move_head(conn: Connection, chain: str, seq: int, hash_: str, existed: bool) -> None:
    if existed:
        conn.execute(_UPDATE_HEAD, {"the_chain": chain, "new_seq": seq, "new_hash": hash_})
    else:
        conn.execute(_INSERT_HEAD, {"chain": chain, "seq": seq, "hash": hash_})


def _link(rows: list[dict[str, Any]], fields: tuple[str, ...], seq: int, previous: str) -> tuple[int, str]:
    for row in rows:
        seq += 1
        row["seq"], row["prev_hash"] = seq, previous
        row["hash"] = previous = digest(previous, row, fields)
    return seq, previous


class KnownHeads:
    """The chain heads this process has committed (or read), so an append can move a head without reading it.

    Only a hint: :func:`chain_rows` moves a known head with an UPDATE that matches the stored seq *and* hash, and
    reads the head (locked) when that matches no row — another process appended meanwhile, or the database was
    restored. Bounded: past ``max_entries`` chains the oldest are forgotten (they are read again when next used).
    """

    def __init__(self, max_entries: int = 20_000) -> None:
        self.max_entries = max_entries
        self._heads: dict[str, tuple[int, str]] = {}
        self._lock = threading.Lock()

    def get(self, chain: str) -> tuple[int, str] | None:
        return self._heads.get(chain)

    def update(self, heads: Mapping[str, tuple[int, str]]) -> None:
        with self._lock:
            for chain, head in heads.items():
                self._heads.pop(chain, None)
                self._heads[chain] = head
            while len(self._heads) > self.max_entries:
                del self._heads[next(iter(self._heads))]


def chain_rows(conn: Connection, chain: str, rows: list[dict[str, Any]], fields: Iterable[str], *,
               known: tuple[int, str] | None = None) -> tuple[int, str] | None:
    """Give ``rows`` (about to be inserted, in order) their ``seq``, ``prev_hash`` and ``hash``; move the head;
    return the new head (seq, hash).

    Runs in the inserting transaction; the head row is locked (PostgreSQL) until it commits, so two writers
    of one chain queue instead of forking it (SQLite serialises writers anyway). ``known``: the head as this
    process last committed it (:class:`KnownHeads`); when the stored head still is that one, it is moved in one
    conditional UPDATE (which takes the same row lock) without reading it first.
    """
    if not rows:
        return None
    fields = tuple(fields)
    if known is not None:
        seq, previous = _link(rows, fields, *known)
        moved = conn.execute(_MOVE_KNOWN_HEAD, {"the_chain": chain, "was_seq": known[0], "was_hash": known[1],
                                                "new_seq": seq, "new_hash": previous})
        if moved.rowcount == 1:
            return seq, previous
    start, head, existed = _head(conn, chain)  # first append here, or another writer moved it: link anew
    seq, previous = _link(rows, fields, start, head)
    _move_head(conn, chain, seq, previous, existed)
    return seq, previous


def append_admin_event(conn: Connection, type_: str, *, actor: str, subject: str | None,
                       data: Mapping[str, Any] | None = None, at: datetime | None = None) -> None:
    """Record an administrative act (who did what to whom) in the ``admin`` chain, in the caller's transaction."""
    row: dict[str, Any] = dict(at=at or datetime.now(timezone.utc), type=type_, actor=actor, subject=subject,
                               data=dict(data or {}))
    chain_rows(conn, ADMIN_CHAIN, [row], ADMIN_FIELDS)
    conn.execute(insert(t.admin_events).values(**row))


# -- verification ------------------------------------------------------------------------------------------------
def _walk(chain: str, rows: Iterable[Mapping[str, Any]], fields: tuple[str, ...], head: tuple[int, str] | None,
          what: str) -> Iterator[str]:
    """Problems of one chain, given its rows ordered by (seq, id)."""
    expected_seq, previous = 1, GENESIS
    for row in rows:
        ident = f"{what} {row['id']}"
        if row["seq"] is None or row["hash"] is None:
            yield f"{chain}: {ident} is not chained (inserted outside gongai)"
            continue
        if row["seq"] < expected_seq:
            yield f"{chain}: {ident} repeats number {row['seq']} (inserted)"
            continue
        if row["seq"] > expected_seq:
            missing = f"{expected_seq}" if row["seq"] == expected_seq + 1 else f"{expected_seq}–{row['seq'] - 1}"
            yield f"{chain}: event number {missing} is missing (deleted)"
        if row["prev_hash"] != previous and row["seq"] == expected_seq:
            yield f"{chain}: {ident} (number {row['seq']}) does not link to the event before it (a row was changed)"
        if digest(row["prev_hash"] or "", row, fields) != row["hash"]:
            yield f"{chain}: {ident} (number {row['seq']}) was edited: its content does not match its hash"
        expected_seq, previous = row["seq"] + 1, row["hash"]
    if head is None:
        if expected_seq > 1:
            yield f"{chain}: no chain head recorded (the head row was deleted)"
        return
    if head[0] != expected_seq - 1 or head[1] != previous:
        if head[0] > expected_seq - 1:
            yield f"{chain}: the newest event(s) {expected_seq}–{head[0]} are missing (deleted)"
        else:
            yield f"{chain}: the chain head does not match its newest event (number {expected_seq - 1})"


def verify(conn: Connection, *, project_id: str | None = None) -> tuple[int, list[str]]:
    """(rows checked, problems): every chain, or only ``project_id``'s. No problems means untouched."""
    heads = {r.chain: (int(r.seq), r.hash) for r in conn.execute(select(t.audit_heads))}
    problems: list[str] = []
    checked = 0
    query = select(*(t.events.c[f] for f in ("id", "prev_hash", "hash", *EVENT_FIELDS)))
    if project_id is not None:
        query = query.where(t.events.c.project_id == project_id)
    current: str | None = None
    batch: list[dict[str, Any]] = []
    seen: set[str] = set()

    def flush() -> None:
        if current is not None:
            chain = project_chain(current)
            seen.add(chain)
            problems.extend(_walk(chain, batch, EVENT_FIELDS, heads.get(chain), "event"))

    result = conn.execution_options(yield_per=5000).execute(
        query.order_by(t.events.c.project_id, t.events.c.seq, t.events.c.id))
    for row in result.mappings():
        checked += 1
        if row["project_id"] != current:
            flush()
            current, batch = row["project_id"], []
        batch.append(dict(row))
    flush()
    if project_id is None:
        admin = [dict(r) for r in conn.execute(select(t.admin_events).order_by(t.admin_events.c.seq, t.admin_events.c.id)).mappings()]
        checked += len(admin)
        problems.extend(_walk(ADMIN_CHAIN, admin, ADMIN_FIELDS, heads.get(ADMIN_CHAIN), "admin event"))
        seen.add(ADMIN_CHAIN)
        for chain, (seq, _) in sorted(heads.items()):
            if chain not in seen and seq > 0:
                problems.append(f"{chain}: all {seq} event(s) are missing (deleted)")
    elif project_chain(project_id) not in seen and heads.get(project_chain(project_id), (0, ""))[0] > 0:
        problems.append(f"{project_chain(project_id)}: all event(s) are missing (deleted)")
    return checked, problems

"""The certificate repository (电子证照): the projection's writes, the counters behind the numbers, the reads.

The service layer calls :meth:`CertificateRepository.apply` inside the transaction that appends the ledger events
the changes come from, so a certificate exists exactly when its event does. Numbers come from a counter row of
``id_counters`` per certificate type and year, incremented in one INSERT … ON CONFLICT … RETURNING statement
(atomic on SQLite and PostgreSQL; a rolled-back step leaves a gap, never a duplicate).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, insert, or_, select, update

from engine.domain.certificates import Changes, counter_name, format_number
from engine.persistence import tables as t

_c = t.certificates.c


_TAKE: dict[str, Any] = {}  # dialect → the counter statement, built once


def take_counter(conn: Connection, name: str, count: int = 1) -> int:
    """Take ``count`` values of counter ``name`` at once, in one statement; returns the last (the values taken are
    ``last - count + 1`` … ``last``; a new counter starts at 1)."""
    statement = _TAKE.get(conn.dialect.name)
    if statement is None:
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        statement = dialect_insert(t.id_counters)
        statement = statement.on_conflict_do_update(index_elements=[t.id_counters.c.name],
                                                    set_={"value": t.id_counters.c.value + statement.excluded.value})
        statement = _TAKE[conn.dialect.name] = statement.returning(t.id_counters.c.value)
    return int(conn.execute(statement, {"name": name, "value": count}).scalar_one())


def next_counter(conn: Connection, name: str) -> int:
    """The next value of counter ``name`` (1 for a new one), in one statement."""
    return take_counter(conn, name)


_INSERT_CERTIFICATES = insert(t.certificates)
_REVOKED = {"status": "revoked", "revoked_at": bindparam("at"), "revocation_reason": bindparam("reason")}
_REVOKE_MATTER = (update(t.certificates).where(_c.project_id == bindparam("pid"), _c.status != "revoked",
                                               _c.matter_key == bindparam("which")).values(**_REVOKED))
_REVOKE_STAGE = (update(t.certificates).where(_c.project_id == bindparam("pid"), _c.status != "revoked",
                                              _c.stage == bindparam("which")).values(**_REVOKED))


class CertificateRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- writes -------------------------------------------------------------------------------------------------
    def apply(self, project: dict[str, Any], changes: Changes, *, number_format: str,
              lane: tuple[int, int] = (0, 1)) -> list[str]:
        """Issue and revoke as ``changes`` say, for ``project`` (id, owner_id, owner_name, project_code,
        division_code); returns the numbers issued. ``lane`` = (index, count) interleaves the counters of
        databases that are merged later (parallel simulation shards): numbers stay unique across them.

        One counter statement per counter (certificate type and year) however many certificates of it the step
        issues, one insert for all of them: the numbers are those one draw per certificate, in order, would give.
        """
        index, lanes = lane
        names = [counter_name(issue.code, issue.issued_at) + (f":{index}" if lanes > 1 else "")
                 for issue in changes.issues]
        wanted: dict[str, int] = {}
        for name in names:
            wanted[name] = wanted.get(name, 0) + 1
        drawn = {name: take_counter(self.conn, name, count) - count for name, count in wanted.items()}  # last before
        numbers, rows = [], []
        for issue, name in zip(changes.issues, names):
            drawn[name] += 1
            seq = (drawn[name] - 1) * lanes + index + 1
            number = format_number(number_format, code=issue.code, issued_at=issue.issued_at,
                                   division=project.get("division_code"), seq=seq)
            rows.append(dict(
                number=number, project_id=project["id"], project_code=project.get("project_code"),
                owner_id=project["owner_id"], holder_name=project.get("owner_name"), type_id=issue.type_id,
                type_name=issue.type_name, kind=issue.kind, department=issue.department, stage=issue.stage,
                matter_key=issue.matter_key, matter_id=issue.matter_id, division_code=project.get("division_code"),
                issued_at=issue.issued_at, expires_at=issue.expires_at, status="valid"))
            numbers.append(number)
        if rows:
            self.conn.execute(_INSERT_CERTIFICATES, rows)
        for revoke in changes.revocations:  # in order: a later revocation of the step sees the earlier ones
            self.conn.execute(_REVOKE_MATTER if revoke.matter_key else _REVOKE_STAGE,
                              {"pid": project["id"], "which": revoke.matter_key or revoke.stage, "at": revoke.at,
                               "reason": revoke.reason})
        return numbers

    def set_project_code(self, project_id: str, code: str) -> None:
        """Every certificate shows the project code, also one issued before the code was known."""
        self.conn.execute(update(t.certificates).where(_c.project_id == project_id).values(project_code=code))

    def expire(self, ids: Sequence[int], at: datetime) -> None:
        if ids:
            self.conn.execute(update(t.certificates).where(_c.id.in_(list(ids)), _c.status == "valid")
                              .values(status="expired", expired_at=at))

    def mark_reminded(self, ids: Sequence[int], at: datetime) -> None:
        if ids:
            self.conn.execute(update(t.certificates).where(_c.id.in_(list(ids))).values(reminded_at=at))

    # -- reads --------------------------------------------------------------------------------------------------
    def by_number(self, number: str) -> dict[str, Any] | None:
        row = self.conn.execute(select(t.certificates).where(_c.number == number)).mappings().first()
        return dict(row) if row else None

    def for_project(self, project_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(select(t.certificates).where(_c.project_id == project_id)
                                 .order_by(_c.issued_at, _c.id)).mappings()
        return [dict(r) for r in rows]

    def page(self, *, project_id: str | None = None, owner_ids: Sequence[str] | None = None,
             department: str | None = None, status: str | None = None, limit: int = 100,
             after: tuple[datetime, int] | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """Certificates oldest first (keyset: issued_at, id), filtered in SQL; ``department`` keeps those of projects
        the department has (or had) a task in (the projects its officers may read)."""
        query = select(t.certificates)
        if department is not None:
            query = query.where(select(t.tasks.c.id).where((t.tasks.c.department == department)
                                                           & (t.tasks.c.project_id == _c.project_id)).exists())
        if project_id is not None:
            query = query.where(_c.project_id == project_id)
        if owner_ids is not None:
            query = query.where(_c.owner_id.in_(list(owner_ids)))
        if status:
            query = query.where(_c.status == status)
        if after is not None:
            query = query.where(or_(_c.issued_at > after[0], and_(_c.issued_at == after[0], _c.id > after[1])))
        rows = self.conn.execute(query.order_by(_c.issued_at, _c.id).limit(limit).offset(offset)).mappings()
        return [dict(r) for r in rows]

    def due_to_expire(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        rows = self.conn.execute(select(t.certificates).where(_c.status == "valid", _c.expires_at.is_not(None),
                                                              _c.expires_at <= now)
                                 .order_by(_c.expires_at, _c.id).limit(limit)).mappings()
        return [dict(r) for r in rows]

    def due_for_reminder(self, horizon: datetime, limit: int) -> list[dict[str, Any]]:
        """Valid certificates expiring before ``horizon`` whose owner was not reminded yet."""
        rows = self.conn.execute(select(t.certificates).where(_c.status == "valid", _c.expires_at.is_not(None),
                                                              _c.expires_at <= horizon, _c.reminded_at.is_(None))
                                 .order_by(_c.expires_at, _c.id).limit(limit)).mappings()
        return [dict(r) for r in rows]

    def counts(self) -> dict[str, int]:
        """How many certificates per status (the demo report)."""
        rows = self.conn.execute(select(_c.status, func.count()).group_by(_c.status))
        return {status: int(n) for status, n in rows}

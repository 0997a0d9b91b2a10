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

from sqlalchemy import Connection, and_, func, insert, or_, select, update

from engine.domain.certificates import Changes, counter_name, format_number
from engine.persistence import tables as t

_c = t.certificates.c


def next_counter(conn: Connection, name: str) -> int:
    """The next value of counter ``name`` (1 for a new one), in one statement."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    statement = dialect_insert(t.id_counters).values(name=name, value=1)
    statement = statement.on_conflict_do_update(index_elements=[t.id_counters.c.name],
                                                set_={"value": t.id_counters.c.value + 1})
    return int(conn.execute(statement.returning(t.id_counters.c.value)).scalar_one())


class CertificateRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- writes -------------------------------------------------------------------------------------------------
    def apply(self, project: dict[str, Any], changes: Changes, *, number_format: str,
              lane: tuple[int, int] = (0, 1)) -> list[str]:
        """Issue and revoke as ``changes`` say, for ``project`` (id, owner_id, owner_name, project_code,
        division_code); returns the numbers issued. ``lane`` = (index, count) interleaves the counters of
        databases that are merged later (parallel simulation shards): numbers stay unique across them."""
        numbers = []
        index, lanes = lane
        for issue in changes.issues:
            name = counter_name(issue.code, issue.issued_at) + (f":{index}" if lanes > 1 else "")
            seq = (next_counter(self.conn, name) - 1) * lanes + index + 1
            number = format_number(number_format, code=issue.code, issued_at=issue.issued_at,
                                   division=project.get("division_code"), seq=seq)
            self.conn.execute(insert(t.certificates).values(
                number=number, project_id=project["id"], project_code=project.get("project_code"),
                owner_id=project["owner_id"], holder_name=project.get("owner_name"), type_id=issue.type_id,
                type_name=issue.type_name, kind=issue.kind, department=issue.department, stage=issue.stage,
                matter_key=issue.matter_key, matter_id=issue.matter_id, division_code=project.get("division_code"),
                issued_at=issue.issued_at, expires_at=issue.expires_at, status="valid"))
            numbers.append(number)
        for revoke in changes.revocations:
            which = _c.matter_key == revoke.matter_key if revoke.matter_key else _c.stage == revoke.stage
            self.conn.execute(update(t.certificates)
                              .where(_c.project_id == project["id"], which, _c.status != "revoked")
                              .values(status="revoked", revoked_at=revoke.at, revocation_reason=revoke.reason))
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

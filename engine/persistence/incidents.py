"""Incidents (事故) and outages: what the timer worker records when a project cannot run, and what it does not.

A project whose stored workflow will not load or step is that project's problem: it becomes an *incident*
row, the timer query skips it until an administrator retries it, and every other project goes on. A database
that cannot be reached is everybody's problem: :func:`is_outage` tells the worker to back off and retry the
whole round instead of blaming the project it happened to be working on.
"""

from __future__ import annotations

import traceback
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, exists, insert, select, update
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError, TimeoutError as PoolTimeout

from engine.persistence import tables as t

DETAIL_CHARS = 4000  # the tail of a traceback kept for the administrator


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` means the database is unreachable or unusable right now (retry later), not bad data."""
    if isinstance(exc, (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def describe(exc: BaseException) -> tuple[str, str]:
    """(one line naming the error, the traceback's tail) — what an incident records."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    error = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return error[:1000], detail[-DETAIL_CHARS:]


def no_open_incident(project_id_column: Any) -> Any:
    """A WHERE clause: the project has no open incident (the timer query's filter)."""
    return ~exists().where(and_(t.incidents.c.project_id == project_id_column, t.incidents.c.status == "open"))


class IncidentRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def open_for(self, project_id: str, kind: str) -> dict[str, Any] | None:
        row = self.conn.execute(select(t.incidents).where(and_(
            t.incidents.c.project_id == project_id, t.incidents.c.kind == kind, t.incidents.c.status == "open"))
        ).mappings().first()
        return dict(row) if row else None

    def record(self, project_id: str, kind: str, exc: BaseException, at: datetime) -> int:
        """Open an incident for the project, or count one more failure of its open one."""
        error, detail = describe(exc)
        current = self.open_for(project_id, kind)
        if current is not None:
            self.failed_again(current["id"], error, detail, at)
            return int(current["id"])
        result = self.conn.execute(insert(t.incidents).values(
            project_id=project_id, kind=kind, status="open", error=error, detail=detail, attempts=1,
            opened_at=at, failed_at=at, resolved_at=None, resolved_by=None))
        return int(result.inserted_primary_key[0])

    def failed_again(self, incident_id: int, error: str, detail: str, at: datetime) -> None:
        self.conn.execute(update(t.incidents).where(t.incidents.c.id == incident_id)
                          .values(error=error, detail=detail, failed_at=at, attempts=t.incidents.c.attempts + 1))

    def resolve(self, incident_id: int, *, by: str, at: datetime) -> bool:
        result = self.conn.execute(update(t.incidents).where(and_(t.incidents.c.id == incident_id,
                                                                  t.incidents.c.status == "open"))
                                   .values(status="resolved", resolved_by=by, resolved_at=at))
        return result.rowcount == 1

    def get(self, incident_id: int) -> dict[str, Any] | None:
        row = self.conn.execute(select(t.incidents).where(t.incidents.c.id == incident_id)).mappings().first()
        return dict(row) if row else None

    def list(self, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        query = select(t.incidents)
        if status:
            query = query.where(t.incidents.c.status == status)
        return [dict(r) for r in self.conn.execute(query.order_by(t.incidents.c.id.desc()).limit(limit)).mappings()]

    def count_open(self) -> int:
        from sqlalchemy import func

        return int(self.conn.execute(select(func.count()).select_from(t.incidents)
                                     .where(t.incidents.c.status == "open")).scalar() or 0)

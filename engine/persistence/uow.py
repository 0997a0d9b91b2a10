"""Repositories and the unit of work: one transaction per service operation.

A service operation opens a :class:`UnitOfWork`, reads and writes through its repositories and commits
once; on any error everything is rolled back, so a failed request leaves the state exactly as it was.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, func, insert, select, update

from engine.domain.ledger import Event, Subject
from engine.persistence import audit, facets, tables as t
from engine.persistence.certificates import CertificateRepository
from engine.persistence.upsert import upsert
from engine.persistence.incidents import IncidentRepository, no_open_incident


class ConcurrentUpdate(RuntimeError):
    """Another transaction changed the project first (optimistic lock): retry the operation."""


class DefinitionRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def by_hash(self, content_hash: str) -> dict[str, Any] | None:
        row = self.conn.execute(select(t.definitions).where(t.definitions.c.content_hash == content_hash)).mappings().first()
        return dict(row) if row else None

    def get(self, definition_id: int) -> dict[str, Any] | None:
        row = self.conn.execute(select(t.definitions).where(t.definitions.c.id == definition_id)).mappings().first()
        return dict(row) if row else None

    def latest(self, process_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            select(t.definitions).where(t.definitions.c.process_id == process_id).order_by(t.definitions.c.version.desc())
        ).mappings().first()
        return dict(row) if row else None

    def list(self) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            select(t.definitions.c.id, t.definitions.c.process_id, t.definitions.c.version, t.definitions.c.content_hash,
                   t.definitions.c.deployed_at, t.definitions.c.deployed_by).order_by(t.definitions.c.id)
        ).mappings()
        return [dict(r) for r in rows]

    def add(self, *, process_id: str, content_hash: str, files: dict[str, str], at: datetime, by: str | None) -> int:
        current = self.conn.execute(
            select(func.max(t.definitions.c.version)).where(t.definitions.c.process_id == process_id)
        ).scalar()
        result = self.conn.execute(insert(t.definitions).values(
            process_id=process_id, version=(current or 0) + 1, content_hash=content_hash, files=files,
            deployed_at=at, deployed_by=by,
        ))
        return int(result.inserted_primary_key[0])


class RuleTableRepository:
    """Matter-selection decision tables deployed per profile (``rule_tables``), versioned by content."""

    _LISTED = ("id", "profile", "version", "content_hash", "deployed_at", "deployed_by")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def by_hash(self, profile: str, content_hash: str) -> dict[str, Any] | None:
        row = self.conn.execute(select(t.rule_tables).where(
            t.rule_tables.c.profile == profile, t.rule_tables.c.content_hash == content_hash)).mappings().first()
        return dict(row) if row else None

    def get(self, rules_id: int) -> dict[str, Any] | None:
        row = self.conn.execute(select(t.rule_tables).where(t.rule_tables.c.id == rules_id)).mappings().first()
        return dict(row) if row else None

    def latest(self, profile: str) -> dict[str, Any] | None:
        row = self.conn.execute(select(t.rule_tables).where(t.rule_tables.c.profile == profile)
                                .order_by(t.rule_tables.c.version.desc())).mappings().first()
        return dict(row) if row else None

    def latest_head(self, profile: str) -> dict[str, Any] | None:
        """The newest version's id, version and hash (without its content: asked at every filing)."""
        row = self.conn.execute(select(t.rule_tables.c.id, t.rule_tables.c.version, t.rule_tables.c.content_hash)
                                .where(t.rule_tables.c.profile == profile)
                                .order_by(t.rule_tables.c.version.desc()).limit(1)).mappings().first()
        return dict(row) if row else None

    def list(self) -> list[dict[str, Any]]:
        rows = self.conn.execute(select(*(t.rule_tables.c[c] for c in self._LISTED))
                                 .order_by(t.rule_tables.c.profile, t.rule_tables.c.version)).mappings()
        return [dict(r) for r in rows]

    def add(self, *, profile: str, content_hash: str, content: str, at: datetime, by: str | None) -> int:
        current = self.conn.execute(
            select(func.max(t.rule_tables.c.version)).where(t.rule_tables.c.profile == profile)).scalar()
        result = self.conn.execute(insert(t.rule_tables).values(
            profile=profile, version=(current or 0) + 1, content_hash=content_hash, content=content,
            deployed_at=at, deployed_by=by))
        return int(result.inserted_primary_key[0])


# The statements of every step, built once (issue 14: building a statement per call cost more than running it);
# an UPDATE without .values() sets the columns its parameters name.
_GET_PROJECT = select(t.projects).where(t.projects.c.id == bindparam("b_id"))
_GET_PROJECT_FOR_UPDATE = _GET_PROJECT.with_for_update()
_UPDATE_PROJECT = update(t.projects).where(t.projects.c.id == bindparam("b_id"),
                                           t.projects.c.version == bindparam("b_version"))


class ProjectRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._read: dict[str, dict[str, Any]] = {}  # rows this transaction read along with another row

    def add(self, row: dict[str, Any]) -> None:
        self._read.pop(row["id"], None)
        self.conn.execute(insert(t.projects).values(version=1, **row))

    def get(self, project_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
        """Read a project; ``for_update`` locks its row until the transaction ends (PostgreSQL; SQLite
        already serialises writers with BEGIN IMMEDIATE). A row this transaction already read with its task
        (:meth:`TaskRepository.get` ``with_project``) and has not written since is not read again."""
        if not for_update and project_id in self._read:
            return dict(self._read[project_id])
        row = self.conn.execute(_GET_PROJECT_FOR_UPDATE if for_update else _GET_PROJECT,
                                {"b_id": project_id}).mappings().first()
        return dict(row) if row else None

    def remember(self, row: dict[str, Any]) -> None:
        """Keep a project row read by another repository's statement, for :meth:`get` in this transaction."""
        self._read[row["id"]] = row

    def update(self, project_id: str, expected_version: int, **values: Any) -> int:
        """Write ``values`` if nobody else wrote the project since we read ``expected_version``."""
        self._read.pop(project_id, None)
        result = self.conn.execute(_UPDATE_PROJECT, {**values, "version": expected_version + 1,
                                                     "b_id": project_id, "b_version": expected_version})
        if result.rowcount != 1:
            raise ConcurrentUpdate(f"project {project_id} was changed by another request; retry")
        return expected_version + 1

    def list(self, *, owner_ids: Sequence[str] | None = None, status: str | None = None,
             project_type: str | None = None, department: str | None = None, limit: int = 100, offset: int = 0,
             after: tuple[datetime, str] | None = None, project_code: str | None = None) -> list[dict[str, Any]]:
        """Projects oldest first, filtered in SQL; ``after`` is the keyset position (created_at, id) of the last
        row of the previous page; ``department`` keeps the projects that department has (or had) a task in."""
        p = t.projects.c
        query = select(p.id, p.name, p.project_type, p.owner_id, p.status, p.result, p.created_at, p.completed_at,
                       p.project_code)
        if project_code is not None:  # 项目代码 is unique: one probe of ux_projects_project_code
            query = query.where(p.project_code == project_code)
        if owner_ids is not None:
            query = query.where(p.owner_id.in_(list(owner_ids)))
        if status:
            query = query.where(p.status == status)
        if project_type:
            query = query.where(p.project_type == project_type)
        if department is not None:  # one probe of ix_tasks_department_project per project walked
            query = query.where(select(t.tasks.c.id).where((t.tasks.c.department == department)
                                                           & (t.tasks.c.project_id == p.id)).exists())
        if after is not None:
            query = query.where((p.created_at > after[0]) | ((p.created_at == after[0]) & (p.id > after[1])))
        rows = self.conn.execute(query.order_by(p.created_at, p.id).limit(limit).offset(offset)).mappings()
        return [dict(r) for r in rows]

    def ids(self) -> list[str]:
        return list(self.conn.execute(select(t.projects.c.id).order_by(t.projects.c.id)).scalars())

    def by_project_code(self, code: str) -> str | None:
        """The id of the project carrying 项目代码 ``code`` (unique), or None."""
        return self.conn.execute(select(t.projects.c.id).where(t.projects.c.project_code == code)).scalar()

    def due_for_timers(self, now: datetime, limit: int = 100) -> list[str]:
        return [pid for pid, _ in self.due_timers(now, limit)]

    def due_timers(self, now: datetime, limit: int = 100) -> list[tuple[str, datetime]]:
        """(project id, when its earliest timer was due), most overdue first; projects with an open incident
        wait for an administrator (engine/services/incidents.py)."""
        rows = self.conn.execute(
            select(t.projects.c.id, t.projects.c.next_timer_at).where(and_(t.projects.c.status == "running", t.projects.c.next_timer_at < now,
                                               no_open_incident(t.projects.c.id)))  # incidents wait for an admin
            .order_by(t.projects.c.next_timer_at).limit(limit)
        )
        return [(row.id, row.next_timer_at) for row in rows]

    def next_timer_at(self) -> datetime | None:
        return self.conn.execute(
            select(func.min(t.projects.c.next_timer_at)).where(t.projects.c.status == "running")
        ).scalar()


_LOAD_PARTS = select(t.workflow_parts.c.part, t.workflow_parts.c.state).where(
    t.workflow_parts.c.project_id == bindparam("b_project"))


class WorkflowPartRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def load(self, project_id: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        top: dict[str, Any] | None = None
        parts: dict[str, dict[str, Any]] = {}
        for row in self.conn.execute(_LOAD_PARTS, {"b_project": project_id}):
            if row.part == "top":
                top = row.state
            else:
                parts[row.part] = row.state
        if top is None:
            raise KeyError(project_id)
        return top, parts

    def save(self, project_id: str, parts: dict[str, tuple[dict[str, Any], bool]]) -> None:
        rows = [dict(project_id=project_id, part=part, state=state, completed=completed)
                for part, (state, completed) in parts.items()]
        upsert(self.conn, t.workflow_parts, rows, ("project_id", "part"))


_INSERT_EVENTS = insert(t.events)


class EventRepository:
    def __init__(self, conn: Connection, known_heads: audit.KnownHeads | None = None) -> None:
        self.conn = conn
        self.known_heads = known_heads if known_heads is not None else audit.KnownHeads()  # committed, this process
        self.pending_heads: dict[str, tuple[int, str]] = {}  # moved in this transaction: known once it commits

    def append(self, project_id: str, project_type: str, events: Iterable[Event]) -> None:
        rows = [
            dict(project_id=project_id, project_type=project_type, at=e.at, type=e.type, stage=e.stage,
                 matter_key=e.matter_key, matter_id=e.matter_id, department=e.department, actor=e.actor,
                 task_id=e.task_id, data=e.data)
            for e in events
        ]
        if rows:
            chain = audit.project_chain(project_id)
            known = self.pending_heads.get(chain) or self.known_heads.get(chain)
            head = audit.chain_rows(self.conn, chain, rows, audit.EVENT_FIELDS, known=known)  # tamper evidence
            if head is not None:
                self.pending_heads[chain] = head
            self.conn.execute(_INSERT_EVENTS, rows)

    def for_project(self, project_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(select(t.events).where(t.events.c.project_id == project_id)
                                 .order_by(t.events.c.at, t.events.c.id)).mappings()
        return [dict(r) for r in rows]

    def all(self, *, since_id: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        query = select(t.events).where(t.events.c.id > since_id).order_by(t.events.c.id)
        if limit:
            query = query.limit(limit)
        return [dict(r) for r in self.conn.execute(query).mappings()]


_LOAD_SUBJECTS = select(t.subjects.c.state).where(t.subjects.c.project_id == bindparam("b_project"))


class SubjectRepository:
    def __init__(self, conn: Connection, known_facets: set[int] | None = None) -> None:
        self.conn = conn
        self.known_facets = known_facets if known_facets is not None else set()  # committed before, in this process
        self.pending_facets: set[int] = set()  # ensured in this transaction: known once it commits

    def load(self, project_id: str) -> list[Subject]:
        rows = self.conn.execute(_LOAD_SUBJECTS, {"b_project": project_id}).scalars()
        return [Subject.from_dict(state) for state in rows]

    def save(self, project_id: str, project_type: str, rows: Iterable[tuple[Subject, dict[str, Any]]], *,
             profile: str, division_code: str | None = None) -> None:
        """Upsert the subjects with their figures and analytics keys (``engine.persistence.facets``)."""
        records = [
            dict(project_id=project_id, key=subject.key, level=subject.level, project_type=project_type,
                 stage=subject.stage, matter_id=subject.matter_id, department=subject.department,
                 started_at=subject.started_at, ended_at=subject.ended_at, outcome=subject.outcome,
                 state=subject.to_dict(), division_code=division_code, **figures,
                 **facets.keys(project_type, profile, subject.stage, subject.department, subject.matter_id,
                               subject.started_at, division_code))
            for subject, figures in rows
        ]
        facets.ensure(self.conn, {(project_type, profile, r["stage"], r["department"], r["matter_id"], division_code)
                                  for r in records},
                      known=self.known_facets, pending=self.pending_facets)
        columns = {column for record in records for column in record}
        for record in records:  # one statement needs one shape: figures not measured yet are NULL
            for column in columns - record.keys():
                record[column] = None
        upsert(self.conn, t.subjects, records, ("project_id", "key"))

    def query(self, *, level: str | None = None, stage: str | None = None, project_type: str | None = None,
              finished: bool | None = None) -> list[dict[str, Any]]:
        q = select(t.subjects)
        if level:
            q = q.where(t.subjects.c.level == level)
        if stage:
            q = q.where(t.subjects.c.stage == stage)
        if project_type:
            q = q.where(t.subjects.c.project_type == project_type)
        if finished is True:
            q = q.where(t.subjects.c.ended_at.is_not(None))
        return [dict(r) for r in self.conn.execute(q.order_by(t.subjects.c.project_id, t.subjects.c.key)).mappings()]


_INSERT_TASK = insert(t.tasks)
_GET_TASK = select(t.tasks).where(t.tasks.c.id == bindparam("b_id"))
_TASK_COLUMNS = tuple(c.name for c in t.tasks.c)
_PROJECT_COLUMNS = tuple(c.name for c in t.projects.c)
_GET_TASK_AND_PROJECT = (select(*t.tasks.c, *(c.label(f"project__{c.name}") for c in t.projects.c))
                         .join_from(t.tasks, t.projects, t.projects.c.id == t.tasks.c.project_id)
                         .where(t.tasks.c.id == bindparam("b_id")))
_READY_TASK_IDS = select(t.tasks.c.id).where(t.tasks.c.project_id == bindparam("b_project"), t.tasks.c.state == "ready")
_CLOSE_TASK = (update(t.tasks).where(t.tasks.c.id == bindparam("tid"))
               .values(state=bindparam("st"), completed_at=bindparam("at"), actor=bindparam("who")))


class TaskRepository:
    def __init__(self, conn: Connection, projects: ProjectRepository | None = None) -> None:
        self.conn = conn
        self.projects = projects

    def get(self, task_id: str, *, with_project: bool = False) -> dict[str, Any] | None:
        """The task row; ``with_project`` reads its project's row in the same statement and hands it to the unit of
        work's :class:`ProjectRepository` (whose next ``get`` of it then needs no statement)."""
        if not with_project or self.projects is None:
            row = self.conn.execute(_GET_TASK, {"b_id": task_id}).mappings().first()
            return dict(row) if row else None
        found = self.conn.execute(_GET_TASK_AND_PROJECT, {"b_id": task_id}).first()
        if found is None:
            return None
        split = len(t.tasks.c)
        self.projects.remember(dict(zip(_PROJECT_COLUMNS, found[split:])))
        return dict(zip(_TASK_COLUMNS, found[:split]))

    def involves(self, project_id: str, department: str) -> bool:
        """Whether ``department`` has (or had) a task in the project (what lets its officers read it)."""
        q = select(t.tasks.c.id).where(and_(t.tasks.c.project_id == project_id, t.tasks.c.department == department))
        return self.conn.execute(q.limit(1)).first() is not None

    def ready_ids(self, project_id: str) -> set[str]:
        return set(self.conn.execute(_READY_TASK_IDS, {"b_project": project_id}).scalars())

    def add(self, row: dict[str, Any]) -> None:
        self.conn.execute(insert(t.tasks).values(**row))

    def add_many(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert a step's new ready tasks in one executemany statement (rows of one shape)."""
        if rows:
            self.conn.execute(_INSERT_TASK, list(rows))

    def close_many(self, closed: Sequence[tuple[str, str, datetime, str | None]]) -> None:
        """Close ``(task_id, state, at, actor)`` tasks in one executemany statement."""
        if closed:
            self.conn.execute(_CLOSE_TASK, [{"tid": tid, "st": state, "at": at, "who": actor}
                                            for tid, state, at, actor in closed])

    def claim(self, task_id: str, *, actor: str | None, at: datetime | None, expected: str | None) -> bool:
        """Set (or clear) the claimer if it is still ``expected``; False when someone else changed it first."""
        result = self.conn.execute(
            update(t.tasks)
            .where(and_(t.tasks.c.id == task_id, t.tasks.c.state == "ready",
                        t.tasks.c.claimed_by.is_(None) if expected is None else t.tasks.c.claimed_by == expected))
            .values(claimed_by=actor, claimed_at=at)
        )
        return result.rowcount == 1

    def close(self, task_id: str, *, state: str, at: datetime, actor: str | None) -> None:
        self.conn.execute(update(t.tasks).where(t.tasks.c.id == task_id).values(state=state, completed_at=at, actor=actor))

    def list(self, *, state: str | None = "ready", role: str | None = None, department: str | None = None,
             owner_ids: Sequence[str] | None = None, project_id: str | None = None, stage: str | None = None,
             project_type: str | None = None, spec_id: str | None = None,
             limit: int | None = 200, offset: int = 0,
             after: tuple[datetime | None, datetime, str] | None = None) -> list[dict[str, Any]]:
        """Tasks soonest due first (no due date last), then oldest, then by id; filtered in SQL. ``after`` is the
        keyset position (due_at, created_at, id) of the last row of the previous page."""
        c = t.tasks.c
        q = select(t.tasks)
        if project_type:  # one primary-key probe of projects per task walked
            q = q.where(select(t.projects.c.id).where((t.projects.c.id == c.project_id)
                                                      & (t.projects.c.project_type == project_type)).exists())
        if spec_id:
            q = q.where(c.spec_id == spec_id)
        if after is not None:
            due, created, tid = after
            later = (c.created_at > created) | ((c.created_at == created) & (c.id > tid))
            if due is None:
                q = q.where(c.due_at.is_(None) & later)
            else:
                q = q.where(c.due_at.is_(None) | (c.due_at > due) | ((c.due_at == due) & later))
        if state:
            q = q.where(t.tasks.c.state == state)
        if role:
            q = q.where(t.tasks.c.role == role)
        if department:
            q = q.where(t.tasks.c.department == department)
        if owner_ids is not None:
            q = q.where(t.tasks.c.owner_id.in_(list(owner_ids)))
        if project_id:
            q = q.where(t.tasks.c.project_id == project_id)
        if stage:
            q = q.where(t.tasks.c.stage == stage)
        q = q.order_by(c.due_at.is_(None), c.due_at, c.created_at, c.id).limit(limit).offset(offset)
        return [dict(r) for r in self.conn.execute(q).mappings()]


class NotificationRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self.conn.execute(insert(t.notifications), list(rows))

    def for_project(self, project_id: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(
            select(t.notifications).where(t.notifications.c.project_id == project_id).order_by(t.notifications.c.id)
        ).mappings()]


class CreditRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self.conn.execute(insert(t.credit_records), list(rows))

    def for_owner(self, owner_id: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(
            select(t.credit_records).where(t.credit_records.c.owner_id == owner_id).order_by(t.credit_records.c.id)
        ).mappings()]


#: facet ids this process has seen committed, per database (so a step does not insert them again)
_KNOWN_FACETS: "weakref.WeakKeyDictionary[Engine, set[int]]" = weakref.WeakKeyDictionary()
#: audit chain heads this process has committed, per database (so an append moves a head without reading it)
_KNOWN_HEADS: "weakref.WeakKeyDictionary[Engine, audit.KnownHeads]" = weakref.WeakKeyDictionary()


class UnitOfWork:
    """One transaction; repositories share its connection. Use as a context manager and call commit().

    ``read_only=True`` is for queries: on SQLite it does not take the write lock, so reads never queue
    behind a writer (and must not write).
    """

    def __init__(self, engine: Engine, *, read_only: bool = False) -> None:
        self._engine = engine
        self._read_only = read_only

    def __enter__(self) -> UnitOfWork:
        self.conn = self._engine.connect()
        if not self._read_only:
            self.conn = self.conn.execution_options(gongai_write=True)  # see engine.persistence.db (BEGIN IMMEDIATE)
        self._tx = self.conn.begin()
        self.definitions = DefinitionRepository(self.conn)
        self.rule_tables = RuleTableRepository(self.conn)
        self.projects = ProjectRepository(self.conn)
        self.parts = WorkflowPartRepository(self.conn)
        heads = _KNOWN_HEADS.get(self._engine)
        if heads is None:
            heads = _KNOWN_HEADS.setdefault(self._engine, audit.KnownHeads())
        self.events = EventRepository(self.conn, heads)
        self.subjects = SubjectRepository(self.conn, _KNOWN_FACETS.setdefault(self._engine, set()))
        self.tasks = TaskRepository(self.conn, self.projects)
        self.notifications = NotificationRepository(self.conn)
        self.credit = CreditRepository(self.conn)
        self.certificates = CertificateRepository(self.conn)
        self.incidents = IncidentRepository(self.conn)
        return self

    def commit(self) -> None:
        self._tx.commit()
        self.subjects.known_facets |= self.subjects.pending_facets
        self.events.known_heads.update(self.events.pending_heads)

    def rollback(self) -> None:
        if self._tx.is_active:
            self._tx.rollback()

    def __exit__(self, *exc: object) -> None:
        self.rollback()
        self.conn.close()

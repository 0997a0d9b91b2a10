"""Read-side queries the HTTP API needs beyond :class:`ApprovalService`: who may see which project, the
projects an actor may list, progress views with warning colours, analyst aggregates over ``subjects``,
and the case list. Nothing here changes state.

Visibility is decided once, here, so every route answers alike: a project an actor may not see is
refused with the same message whether or not it exists (no existence leak).
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, case, func, select

from engine.domain.actors import Actor
from engine.domain.authorisation import DEPARTMENT_SIDE, READS_EVERYTHING, may_read_project
from engine.persistence import tables as t
from engine.persistence.uow import UnitOfWork
from engine.services.errors import Forbidden, Invalid, NotFound



def not_yours(project_id: str) -> Forbidden:
    return Forbidden(f"project {project_id}: not among the projects you may see")


def visible_project(db: Engine, actor: Actor, project_id: str) -> dict[str, Any]:
    """The project row if ``actor`` may see it; 403 (same message whether or not it exists) otherwise."""
    with UnitOfWork(db, read_only=True) as uow:
        row = uow.projects.get(project_id)
        if actor.role in READS_EVERYTHING:
            if row is None:
                raise NotFound(f"project {project_id} does not exist")
            return row
        if row is None:
            raise not_yours(project_id)
        if may_read_project(actor, row["owner_id"], lambda department: uow.tasks.involves(project_id, department)):
            return row
    raise not_yours(project_id)


def list_projects(db: Engine, actor: Actor, *, status: str | None = None, project_type: str | None = None,
                  limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    """Projects ``actor`` may see, oldest first (one page; :func:`project_page` also says whether more exist)."""
    return project_page(db, actor, status=status, project_type=project_type, limit=limit, offset=offset)[0]


def project_page(db: Engine, actor: Actor, *, status: str | None = None, project_type: str | None = None,
                 limit: int = 100, offset: int = 0, cursor: str | None = None,
                 project_code: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the projects ``actor`` may see, oldest first, and the cursor of the next page (None: no more).

    Everything is filtered and paginated by the database (keyset on created_at, id): an agency's page walks
    ``ix_projects_listing`` probing whether the department has a task in each project, so its cost follows the
    page size and the department's share of projects, not the number of projects.
    """
    after = _project_position(decode_cursor(cursor)) if cursor else None
    page = dict(status=status, project_type=project_type, limit=limit + 1, offset=0 if after else offset, after=after,
                project_code=project_code)
    with UnitOfWork(db, read_only=True) as uow:
        if actor.role in READS_EVERYTHING:
            rows = uow.projects.list(**page)
        elif actor.role == "owner":
            rows = uow.projects.list(owner_ids=[actor.id], **page)
        elif actor.role == "agent":
            rows = uow.projects.list(owner_ids=sorted(actor.owner_ids), **page)
        elif actor.role in DEPARTMENT_SIDE and actor.department:
            rows = uow.projects.list(department=actor.department, **page)
        else:
            rows = []
    more = len(rows) > limit
    rows = rows[:limit]
    following = encode_cursor([rows[-1]["created_at"].isoformat(), rows[-1]["id"]]) if more else None
    return [_iso(r) for r in rows], following


def encode_cursor(position: list[Any]) -> str:
    """An opaque page cursor: the keyset position of a page's last row (base64url JSON)."""
    raw = json.dumps(position, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, UnicodeDecodeError):
        value = None
    if not isinstance(value, list):
        raise Invalid("cursor: not a cursor this API gave out (take it from the X-Next-Cursor header)")
    return value


def _project_position(value: list[Any]) -> tuple[datetime, str]:
    try:
        created, pid = value
        return datetime.fromisoformat(created), str(pid)
    except (TypeError, ValueError):
        raise Invalid("cursor: not a project-list cursor") from None


def task_position(value: list[Any]) -> tuple[datetime | None, datetime, str]:
    try:
        due, created, tid = value
        return (datetime.fromisoformat(due) if due else None), datetime.fromisoformat(created), str(tid)
    except (TypeError, ValueError):
        raise Invalid("cursor: not a task-list cursor") from None


def task_cursor(row: dict[str, Any]) -> str:
    due = row.get("due_at")
    created = row["created_at"]
    return encode_cursor([due.isoformat() if isinstance(due, datetime) else due,
                          created.isoformat() if isinstance(created, datetime) else created, row["id"]])


def colour(entry: dict[str, Any]) -> str:
    """四色 warning colour of a timed subject: none once finished, else by its timing status."""
    if entry.get("end"):
        return "none"
    return {"on_time": "green", "warning": "yellow", "overdue": "red", "silent_consent": "red"}.get(entry.get("status") or "", "none")


def decorate_timing(timing: dict[str, Any]) -> dict[str, Any]:
    for bucket in ("stages", "matters", "special_procedures", "post_checks", "filings"):
        for entry in timing.get(bucket, []):
            entry["colour"] = colour(entry)
    if timing.get("project"):
        timing["project"]["colour"] = colour(timing["project"])
    return timing


def ready_tasks_of(db: Engine, project_id: str, spec_ids: Iterable[str], stage: str | None = None) -> list[dict[str, Any]]:
    """Ready tasks of a project of the given BPMN ids (an owner's sign / correct / supply step)."""
    specs = set(spec_ids)
    with UnitOfWork(db, read_only=True) as uow:
        rows = uow.tasks.list(project_id=project_id, stage=stage)
    return [r for r in rows if r["spec_id"] in specs]


# -- analysts ------------------------------------------------------------------------------------------------------
GROUPS = {"stage": ("stage",), "project": ("project_type",), "department": ("department",), "matter": ("matter_id",),
          "filing": ("stage",)}
#: ``filing``: 受理用时 — each stage filing from its first submission to the window's decision (受理, 视为受理 or
#: 视为撤回); the owner's 补正 after a 一次性告知 is a clock stop, so the working days are the window's own and
#: ``overdue`` means past the window's limit (行政许可法第三十二条).
LEVEL_OF_GROUP = {"stage": "stage", "project": "project", "department": "matter", "matter": "matter", "filing": "filing"}


def timings(db: Engine, *, by: str = "stage", project_type: str | None = None, stage: str | None = None,
            department: str | None = None, matter: str | None = None, jurisdiction: str | None = None,
            since: datetime | None = None, until: datetime | None = None, division: str | None = None,
            finished_only: bool = False) -> list[dict[str, Any]]:
    """Span and approval time (working days) per stage / whole process / department / matter.

    A subject counts in a period if it started within [since, until). The distributions (count, mean,
    median, p90, max — DOMAIN.md §5) are those of :func:`engine.analytics.measures.distribution`, computed by
    the database over finished subjects; ``count``, ``finished`` and the overdue figures come from one grouped
    aggregate (``finished_only`` restricts them to finished subjects too). Both halves of a row take the
    measures' filter rule, so they always describe the same subjects: ``department`` and ``matter`` filter the
    matter-level groupings only (by=department, by=matter) and ``stage`` everything below the whole process; a
    filter the grouping cannot honour is a 422 rather than silently ignored (a stage row's ``department`` is
    its lead department, not the departments whose matters it holds). ``jurisdiction`` is the projects' profile,
    ``division`` their 行政区划代码 (a city takes in its counties, as in every measure).
    """
    from engine.analytics.measures import Filters, conditions, distribution

    if by not in GROUPS:
        raise Invalid(f"by: unknown grouping '{by}' (known: {', '.join(GROUPS)})")
    level, column = LEVEL_OF_GROUP[by], GROUPS[by][0]
    for name, value in (("department", department), ("matter", matter)):
        if value and level != "matter":
            raise Invalid(f"{name}: filters the matter groupings only (by=department or by=matter), not by={by}")
    if stage and level == "project":
        raise Invalid("stage: the whole process has no stage; use by=stage, by=department or by=matter, not by=project")
    filters = Filters(project_type=project_type, stage=stage, department=department, matter=matter,
                      jurisdiction=jurisdiction, since=since, until=until, division=division)
    group = t.subjects.c[column]
    where = [*conditions(filters, level), t.subjects.c.started_at.is_not(None)]
    if finished_only:
        where.append(t.subjects.c.ended_at.is_not(None))
    counts = (select(group.label("g"), func.count().label("count"), func.count(t.subjects.c.ended_at).label("finished"),
                     func.sum(case((t.subjects.c.overdue.is_(True), 1), else_=0)).label("overdue"))
              .where(*where).group_by(group).order_by(group))
    metrics = ("span_working_days", "approval_working_days", "span_natural_days", "approval_days_used", "span_days_used")
    with db.connect() as conn:
        rows = list(conn.execute(counts).mappings())
        stats = {d["group"]: d for d in distribution(conn, level, column, filters, metrics=metrics)}
    empty = {"mean": None, "median": None, "p90": None, "max": None}
    out = []
    for row in rows:
        entry: dict[str, Any] = {column: row["g"], "count": int(row["count"]), "finished": int(row["finished"])}
        for metric in metrics:
            entry[metric] = stats.get(row["g"], {}).get(metric, empty)
        entry["overdue"] = int(row["overdue"] or 0)
        entry["overdue_rate"] = round(entry["overdue"] / entry["count"], 4) if entry["count"] else None
        out.append(entry)
    return out


def cases(db: Engine, *, status: str | None = None, project_type: str | None = None, overdue: bool | None = None,
          limit: int = 500, offset: int = 0) -> list[dict[str, Any]]:
    """The case list: each project with its status and whether any stage, matter or the whole is overdue."""
    with db.connect() as conn:
        late = defaultdict(list)
        for pid, key, level in conn.execute(select(t.subjects.c.project_id, t.subjects.c.key, t.subjects.c.level)
                                            .where(t.subjects.c.overdue.is_(True))):
            late[pid].append(key)
        q = select(t.projects.c.id, t.projects.c.name, t.projects.c.project_type, t.projects.c.owner_id,
                   t.projects.c.status, t.projects.c.result, t.projects.c.created_at, t.projects.c.completed_at)
        if status:
            q = q.where(t.projects.c.status == status)
        if project_type:
            q = q.where(t.projects.c.project_type == project_type)
        rows = [dict(r) for r in conn.execute(q.order_by(t.projects.c.created_at, t.projects.c.id)).mappings()]
    out = []
    for row in rows:
        row = _iso(row)
        row["overdue"] = bool(late.get(row["id"]))
        row["overdue_subjects"] = sorted(late.get(row["id"], []))
        if overdue is None or row["overdue"] == overdue:
            out.append(row)
    return out[offset:offset + limit]


EVENT_COLUMNS = ("id", "project_id", "at", "type", "project_type", "stage", "matter_key", "matter_id", "department",
                 "actor", "task_id", "data")


def events_csv(db: Engine, *, project_id: str | None = None, since_id: int = 0, limit: int = 100_000) -> str:
    """The event log (事件日志) as CSV, one event a row, ``data`` as JSON — for process-mining tools."""
    import json

    q = select(t.events).where(t.events.c.id > since_id)
    if project_id:
        q = q.where(t.events.c.project_id == project_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EVENT_COLUMNS)
    with db.connect() as conn:
        for row in conn.execute(q.order_by(t.events.c.id).limit(limit)).mappings():
            values = [row[c] for c in EVENT_COLUMNS]
            values[2] = row["at"].isoformat()
            values[-1] = json.dumps(row["data"], ensure_ascii=False)
            writer.writerow(values)
    return buffer.getvalue()


def definitions(db: Engine) -> list[dict[str, Any]]:
    with UnitOfWork(db, read_only=True) as uow:
        return [_iso(r) for r in uow.definitions.list()]


def _iso(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}

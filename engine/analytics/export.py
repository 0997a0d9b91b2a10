"""Export the event log for process-mining tools: XES (IEEE 1849-2016) and CSV with the standard keys.

One trace per project (``case:concept:name`` = project id), events in log order. The keys are the ones pm4py,
ProM and Disco look for: ``concept:name`` (activity), ``time:timestamp``, ``lifecycle:transition`` (start,
complete, suspend / resume for clock stops, schedule for a task becoming ready, withdraw for a cancelled
task), ``org:group`` (department) and ``org:resource`` (the acting user). ``concept:instance`` tells the
activity instances apart (two unit works run the same acceptance matter). The project type and jurisdiction
profile are trace attributes and are repeated on each event (CSV has no trace level).

Rows are streamed from the database in (project, time, id) order and written as they come: an export of
millions of events never holds them in memory. An export can be narrowed to one project (one case, read
through the ``(project_id, at, id)`` index) and to a window on the event instant, ``since <= at < until``;
a window cuts traces at its edges (a case running across it is exported in part), which is what a mining
tool's time-frame filter does too. (pm4py is AGPL and is not a dependency; the format is written
by hand with lxml's incremental writer.)
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import IO, Any

from lxml import etree
from sqlalchemy import Connection, select

from engine.domain.ledger import EVENT_TYPES
from engine.persistence import tables as t

__all__ = ["CSV_COLUMNS", "activity", "lifecycle", "event_rows", "write_xes", "write_csv"]

CSV_COLUMNS: tuple[str, ...] = (
    "case:concept:name", "case:project_type", "case:profile", "concept:name", "concept:instance",
    "time:timestamp", "lifecycle:transition", "org:group", "org:resource", "stage", "matter_key", "matter_id",
    "event_type", "event_id", "data",
)

_MATTER_TYPES = frozenset({"matter_started", "matter_completed", "clock_stopped", "clock_resumed"})
_EXTENSIONS = (
    ("Concept", "concept", "http://www.xes-standard.org/concept.xesext"),
    ("Time", "time", "http://www.xes-standard.org/time.xesext"),
    ("Lifecycle", "lifecycle", "http://www.xes-standard.org/lifecycle.xesext"),
    ("Organizational", "org", "http://www.xes-standard.org/org.xesext"),
)


def activity(row: dict[str, Any]) -> tuple[str, str | None]:
    """The activity (``concept:name``) and its instance (``concept:instance``) of an event row."""
    kind, data = row["type"], row.get("data") or {}
    if kind.startswith("project_"):
        return "project", row["project_id"]
    if kind in ("stage_accepted", "stage_completed"):
        return f"stage:{row['stage']}", row["stage"]
    if kind in _MATTER_TYPES:
        return f"matter:{row['matter_id']}", row["matter_key"]
    if kind in ("task_ready", "task_completed"):
        spec = data.get("task") or row.get("task_spec") or "unknown"
        return f"task:{spec}", row.get("task_id")
    if kind == "notification":
        return f"notification:{data.get('kind', 'other')}", None
    return kind, row.get("matter_key") or row.get("stage")


def lifecycle(row: dict[str, Any]) -> str:
    if row["type"] == "task_completed" and (row.get("data") or {}).get("cancelled"):
        return "withdraw"
    return EVENT_TYPES.get(row["type"], "complete")


def event_rows(conn: Connection, *, project_id: str | None = None, since: datetime | None = None,
               until: datetime | None = None, batch: int = 5000) -> Iterator[dict[str, Any]]:
    """The event log with each event's project attributes, streamed in (project, time, id) order.

    ``project_id`` keeps one project's events; ``since`` / ``until`` (aware instants) keep the events with
    ``since <= at < until``.
    """
    e, p, tk = t.events, t.projects, t.tasks
    query = (
        select(e, p.c.profile, tk.c.spec_id.label("task_spec"))
        .select_from(e.join(p, p.c.id == e.c.project_id).outerjoin(tk, tk.c.id == e.c.task_id))
        .order_by(e.c.project_id, e.c.at, e.c.id)
    )
    if project_id is not None:
        query = query.where(e.c.project_id == project_id)
    if since is not None:
        query = query.where(e.c.at >= since)
    if until is not None:
        query = query.where(e.c.at < until)
    result = conn.execution_options(stream_results=True, yield_per=batch).execute(query)
    for row in result.mappings():
        yield dict(row)


def _timestamp(value: datetime) -> str:
    value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+00:00"


def _attr(parent: Any, tag: str, key: str, value: Any) -> None:
    etree.SubElement(parent, tag, key=key, value=str(value))


def _event_element(row: dict[str, Any]) -> Any:
    name, instance = activity(row)
    event = etree.Element("event")
    _attr(event, "string", "concept:name", name)
    if instance:
        _attr(event, "string", "concept:instance", instance)
    _attr(event, "date", "time:timestamp", _timestamp(row["at"]))
    _attr(event, "string", "lifecycle:transition", lifecycle(row))
    if row.get("department"):
        _attr(event, "string", "org:group", row["department"])
    if row.get("actor"):
        _attr(event, "string", "org:resource", row["actor"])
    _attr(event, "string", "project_type", row["project_type"])
    for key in ("stage", "matter_key", "matter_id"):
        if row.get(key):
            _attr(event, "string", key, row[key])
    _attr(event, "string", "event_type", row["type"])
    _attr(event, "int", "event_id", row["id"])
    if row.get("data"):
        _attr(event, "string", "data", json.dumps(row["data"], ensure_ascii=False, sort_keys=True))
    return event


def write_xes(conn: Connection, out: IO[bytes], *, project_id: str | None = None, since: datetime | None = None,
              until: datetime | None = None) -> int:
    """Write the event log (all of it, or as narrowed by :func:`event_rows`' filters) as XES to a binary stream.
    Returns the number of events written."""
    count = 0
    with etree.xmlfile(out, encoding="utf-8") as xf:
        xf.write_declaration()
        with xf.element("log", {"xes.version": "1849-2016", "xes.features": "nested-attributes"}):
            for name, prefix, uri in _EXTENSIONS:
                xf.write(etree.Element("extension", name=name, prefix=prefix, uri=uri))
            trace_globals = etree.Element("global", scope="trace")
            _attr(trace_globals, "string", "concept:name", "__INVALID__")
            xf.write(trace_globals)
            event_globals = etree.Element("global", scope="event")
            _attr(event_globals, "string", "concept:name", "__INVALID__")
            _attr(event_globals, "date", "time:timestamp", "1970-01-01T00:00:00.000+00:00")
            _attr(event_globals, "string", "lifecycle:transition", "complete")
            xf.write(event_globals)
            xf.write(etree.Element("classifier", name="Activity", keys="concept:name"))
            xf.write(etree.Element("classifier", name="Activity and lifecycle", keys="concept:name lifecycle:transition"))
            trace_cm = None
            current = None
            try:
                for row in event_rows(conn, project_id=project_id, since=since, until=until):
                    if row["project_id"] != current:
                        if trace_cm is not None:
                            trace_cm.__exit__(None, None, None)
                        current = row["project_id"]
                        trace_cm = xf.element("trace")
                        trace_cm.__enter__()
                        for key, value in (("concept:name", current), ("project_type", row["project_type"]),
                                           ("profile", row["profile"])):
                            xf.write(etree.Element("string", key=key, value=str(value)))
                    xf.write(_event_element(row))
                    count += 1
            finally:
                if trace_cm is not None:
                    trace_cm.__exit__(None, None, None)
    return count


def write_csv(conn: Connection, out: IO[str], *, project_id: str | None = None, since: datetime | None = None,
              until: datetime | None = None) -> int:
    """Write the event log as CSV (one row per event, the standard column names; the filters of
    :func:`event_rows`). Returns the row count."""
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for row in event_rows(conn, project_id=project_id, since=since, until=until):
        name, instance = activity(row)
        writer.writerow([
            row["project_id"], row["project_type"], row["profile"], name, instance or "", _timestamp(row["at"]),
            lifecycle(row), row.get("department") or "", row.get("actor") or "", row.get("stage") or "",
            row.get("matter_key") or "", row.get("matter_id") or "", row["type"], row["id"],
            json.dumps(row["data"], ensure_ascii=False, sort_keys=True) if row.get("data") else "",
        ])
        count += 1
    return count

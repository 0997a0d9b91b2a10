"""The two analytics keys every ``subjects`` row carries, so any filter is read from an index alone.

An analyst filters by project type, jurisdiction (the project's profile), stage, department, matter and period
(DOMAIN.md §5, ``engine.analytics.measures.Filters``). Putting those five text columns into every sorted index
the measures walk would make each index entry three times larger; instead each row stores

- ``facet``: one integer naming its (project type, profile, stage, department, matter, division) combination —
  a few hundred per division — and ``subject_facets`` lists them, so a filter becomes ``facet IN (the ids that
  match)``; the 行政区划代码 (migration 0012_analytics_division) joins the hash only when the project has one, so
  the ids of rows without a division are those migration 0007 computed;
- ``started_us``: its start in microseconds since the epoch (UTC), exact for ``since`` / ``until``.

The id is a hash of the combination, the same in every process and database: a writer never has to read
before it writes, and concurrent writers of a new combination cannot disagree (``ensure`` is an
``ON CONFLICT DO NOTHING`` insert in the writer's own transaction).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection

from engine.persistence import tables as t
from engine.persistence.upsert import upsert

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
DIMENSIONS: tuple[str, ...] = ("project_type", "profile", "stage", "department", "matter_id", "division_code")


def facet_id(project_type: str, profile: str, stage: str | None, department: str | None, matter_id: str | None,
             division_code: str | None = None) -> int:
    """A stable positive 63-bit id for the combination (blake2b; a collision among 10⁶ ids has odds ~10⁻⁷).
    Without a division the id is the one migration 0007 gave the same five values."""
    values = (project_type, profile, stage, department, matter_id) + ((division_code,) if division_code else ())
    key = "\x1f".join(v if v is not None else "\x00" for v in values)
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") >> 1


def instant_us(value: datetime | None) -> int | None:
    """Microseconds since the epoch of an aware instant (exact: datetimes have microsecond resolution)."""
    if value is None:
        return None
    delta = value.astimezone(timezone.utc) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def keys(project_type: str, profile: str, stage: str | None, department: str | None, matter_id: str | None,
         started_at: datetime | None, division_code: str | None = None) -> dict[str, Any]:
    """The ``facet`` and ``started_us`` values of one subject row."""
    return {"facet": facet_id(project_type, profile, stage, department, matter_id, division_code),
            "started_us": instant_us(started_at)}


def facet_row(project_type: str, profile: str, stage: str | None, department: str | None,
              matter_id: str | None, division_code: str | None = None) -> dict[str, Any]:
    return {"id": facet_id(project_type, profile, stage, department, matter_id, division_code),
            "project_type": project_type, "profile": profile, "stage": stage, "department": department,
            "matter_id": matter_id, "division_code": division_code}


def ensure(conn: Connection, combinations: Iterable[tuple[Any, ...]], *,
           known: set[int] | None = None, pending: set[int] | None = None) -> None:
    """Make sure ``subject_facets`` lists these combinations — (type, profile, stage, department, matter[,
    division]) — in the caller's transaction.

    ``known`` are ids already committed (skipped: a few hundred exist, so after warm-up a step inserts none);
    the ids inserted here are added to ``pending``, which the caller adds to ``known`` once it has committed.
    """
    rows = {row["id"]: row for row in (facet_row(*c) for c in combinations)}
    if known:
        rows = {fid: row for fid, row in rows.items() if fid not in known}
    if pending is not None:
        pending.update(rows)
    if rows:
        upsert(conn, t.subject_facets, list(rows.values()), ("id",), update=False)

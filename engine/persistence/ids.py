"""Project numbers that are unique across API processes and restarts, in one statement.

PostgreSQL hands them out from the sequence ``project_id_seq`` (never blocks, never repeats, even when two
processes file at the same instant; a rolled-back filing leaves a gap). SQLite has no sequences; its writing
transactions are already serialised (BEGIN IMMEDIATE, engine/persistence/db.py), so the ``project`` row of
``id_counters`` is incremented in the filing's own transaction. Either way no id is searched for by probing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import Connection, insert, text, update

from engine.persistence import tables as t

SEQUENCE = "project_id_seq"
COUNTER = "project"
_NUMBERED = re.compile(r"^P\d{4}-(\d+)$")


def next_project_number(conn: Connection) -> int:
    if conn.dialect.name == "postgresql":
        return int(conn.execute(text(f"SELECT nextval('{SEQUENCE}')")).scalar_one())
    value = conn.execute(update(t.id_counters).where(t.id_counters.c.name == COUNTER)
                         .values(value=t.id_counters.c.value + 1).returning(t.id_counters.c.value)).scalar()
    if value is None:  # a database created before the counter row existed (the migration adds it)
        conn.execute(insert(t.id_counters).values(name=COUNTER, value=1))
        return 1
    return int(value)


def highest_number(ids: Iterable[str]) -> int:
    """The largest number of ids shaped ``P<year>-<number>`` (0 when none): where the counter starts after."""
    numbers = [int(m.group(1)) for m in map(_NUMBERED.match, ids) if m]
    return max(numbers, default=0)

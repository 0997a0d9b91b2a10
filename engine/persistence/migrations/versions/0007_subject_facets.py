"""analytics for any filter: subjects.facet + subjects.started_us (engine/persistence/facets.py), the
subject_facets table, and the analytics indexes rebuilt with those two keys after the sorted value;
subjects.critical (关键路径: the matter that ended last in its project stage)

Before, the distribution indexes (0004) answered the median and p90 only with no filter (or a filter on the
grouped column); any other filter fell back to a ROW_NUMBER sort over the rows fetched from the wide table
(tens of seconds at 100,000 projects). With the filter keys inside every index, a filtered median is an index
walk like an unfiltered one. ``ix_subjects_facts`` replaces ``ix_subjects_done_outcome`` and
``ix_subjects_level_started``: every rate of a level is counted in one walk of it. ``ix_events_commitments``
lists the stages with a signed commitment (告知承诺) without reading the event rows; ``ix_subjects_keyed`` gives
联合验收 and 特别程序 a project's subjects by key with their filter keys and department.

The backfill computes both keys in Python (the facet id is a hash; µs since the epoch must be exact), in
batches, so it runs the same on SQLite and PostgreSQL.

Revision ID: 0007
Revises: 0006
"""
from typing import Any

from alembic import op
import sqlalchemy as sa
from sqlalchemy import select

import engine.persistence.tables
from engine.persistence import facets

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_FINISHED = sa.text("ended_at IS NOT NULL")
_COMMITMENT = sa.text("type = 'commitment_signed'")
_PROJECTS = sa.text("level = 'project' AND ended_at IS NOT NULL")
_SPECIALS = sa.text("level = 'special'")
_METRICS = ("span_natural_days", "span_working_days", "approval_natural_days", "approval_working_days")
_ORDER = {"swd": "span_working_days", "and": "approval_natural_days", "awd": "approval_working_days"}
_GROUPS = {"department": "department", "matter": "matter_id", "stage": "stage"}
_KEYS = ["facet", "started_us"]
_BATCH = 5_000


def _old_indexes() -> list[tuple[str, list[str], Any]]:
    out = []
    for name, group in _GROUPS.items():
        out.append((f"ix_subjects_done_{name}", ["level", group, *_METRICS, "ended_at"], True))
        out += [(f"ix_subjects_done_{name}_{suffix}", ["level", group, metric], True) for suffix, metric in _ORDER.items()]
    out.append(("ix_subjects_done_outcome", ["level", "outcome", "overdue", "statutory_overdue", "ended_at"], True))
    out.append(("ix_subjects_done_span", ["level", "span_natural_days", "matter_id", "department", "ended_at"], True))
    out.append(("ix_subjects_level_started", ["level", "started_at", "parallel_after"], False))
    return out


def _new_indexes() -> list[tuple[str, list[str], Any]]:
    out = []
    for name, group in _GROUPS.items():
        out.append((f"ix_subjects_done_{name}", ["level", group, _METRICS[0], *_KEYS, *_METRICS[1:], "ended_at",
                                                  "critical"], True))
        out += [(f"ix_subjects_done_{name}_{suffix}", ["level", group, metric, *_KEYS, "ended_at"], True)
                for suffix, metric in _ORDER.items()]
    out.append(("ix_subjects_done_project", ["project_type", _METRICS[0], *_KEYS, *_METRICS[1:], "ended_at"], _PROJECTS))
    out += [(f"ix_subjects_done_project_{suffix}", ["project_type", metric, *_KEYS, "ended_at"], _PROJECTS)
            for suffix, metric in _ORDER.items()]
    out.append(("ix_subjects_done_span", ["level", "span_natural_days", *_KEYS, "matter_id", "department", "ended_at"],
                True))
    out.append(("ix_subjects_facts", ["level", *_KEYS, "ended_at", "outcome", "intake", "overdue", "statutory_overdue",
                                      "parallel_after", "span_natural_days", "matter_id", "project_id"], False))
    out.append(("ix_subjects_keyed", ["project_id", "key", "level", *_KEYS, "department", "outcome"], False))
    out.append(("ix_subjects_specials", ["procedure", *_KEYS, "ended_at", "span_natural_days", "span_working_days",
                                         "project_id", "key"], _SPECIALS))
    return out


def _create(indexes: list[tuple[str, list[str], Any]]) -> None:
    for name, columns, partial in indexes:
        condition = partial if isinstance(partial, sa.TextClause) else _FINISHED
        where = {"sqlite_where": condition, "postgresql_where": condition} if partial is not False else {}
        op.create_index(name, "subjects", columns, unique=False, **where)


def _drop(indexes: list[tuple[str, list[str], Any]]) -> None:
    for name, _, _ in indexes:
        op.drop_index(name, table_name="subjects")


def backfill(conn: sa.Connection) -> None:
    """Set ``facet`` and ``started_us`` of every subject and list its combination in ``subject_facets``."""
    s = sa.table("subjects", sa.column("project_id", sa.String), sa.column("key", sa.String),
                 sa.column("project_type", sa.String), sa.column("stage", sa.String),
                 sa.column("department", sa.String), sa.column("matter_id", sa.String),
                 sa.column("started_at", engine.persistence.tables.UTCDateTime()),
                 sa.column("facet", sa.BigInteger), sa.column("started_us", sa.BigInteger))
    p = sa.table("projects", sa.column("id", sa.String), sa.column("profile", sa.String))
    query = (select(s.c.project_id, s.c.key, s.c.project_type, p.c.profile, s.c.stage, s.c.department, s.c.matter_id,
                    s.c.started_at).join_from(s, p, p.c.id == s.c.project_id).order_by(s.c.project_id, s.c.key))
    update = (s.update().where(s.c.project_id == sa.bindparam("pid"), s.c.key == sa.bindparam("k"))
              .values(facet=sa.bindparam("f"), started_us=sa.bindparam("us")))
    last: tuple[str, str] = ("", "")
    while True:  # keyset pages: the UPDATEs below do not disturb the next page's read
        page = conn.execute(query.where(sa.tuple_(s.c.project_id, s.c.key) > sa.tuple_(*last)).limit(_BATCH)).all()
        if not page:
            return
        combos = {(r.project_type, r.profile, r.stage, r.department, r.matter_id) for r in page}
        facets.ensure(conn, combos)
        conn.execute(update, [{"pid": r.project_id, "k": r.key, "us": facets.instant_us(r.started_at),
                               "f": facets.facet_id(r.project_type, r.profile, r.stage, r.department, r.matter_id)}
                              for r in page])
        last = (page[-1].project_id, page[-1].key)


def backfill_critical(conn: sa.Connection) -> None:
    """Flag, per project stage, the finished matter that ended last (``measures.last_to_finish``), in SQL."""
    s = sa.table("subjects", sa.column("project_id", sa.String), sa.column("key", sa.String),
                 sa.column("level", sa.String), sa.column("stage", sa.String), sa.column("matter_id", sa.String),
                 sa.column("ended_at", engine.persistence.tables.UTCDateTime()), sa.column("critical", sa.Boolean))
    ranked = select(s.c.project_id, s.c.key, sa.func.row_number().over(
        partition_by=[s.c.project_id, s.c.stage],
        order_by=[s.c.ended_at.desc(), s.c.matter_id.desc(), s.c.key.desc()]).label("rn")).where(
        s.c.level == "matter", s.c.ended_at.is_not(None)).subquery()
    last = select(ranked.c.project_id, ranked.c.key).where(ranked.c.rn == 1)
    helper = sa.Table("critical_backfill", sa.MetaData(), sa.Column("project_id", sa.String(40)),
                      sa.Column("key", sa.String(160)))
    helper.create(conn)
    try:
        conn.execute(helper.insert().from_select(["project_id", "key"], last))
        conn.execute(sa.text("CREATE UNIQUE INDEX ix_critical_backfill ON critical_backfill (project_id, key)"))
        is_last = sa.exists().where(helper.c.project_id == s.c.project_id, helper.c.key == s.c.key)
        conn.execute(s.update().where(s.c.level == "matter", s.c.ended_at.is_not(None)).values(critical=is_last))
    finally:
        helper.drop(conn)


def upgrade() -> None:
    op.create_table(
        "subject_facets",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("project_type", sa.String(length=40), nullable=False),
        sa.Column("profile", sa.String(length=100), nullable=False),
        sa.Column("stage", sa.String(length=10), nullable=True),
        sa.Column("department", sa.String(length=40), nullable=True),
        sa.Column("matter_id", sa.String(length=80), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.add_column("subjects", sa.Column("facet", sa.BigInteger(), nullable=True))
    op.add_column("subjects", sa.Column("started_us", sa.BigInteger(), nullable=True))
    op.add_column("subjects", sa.Column("critical", sa.Boolean(), nullable=True))
    backfill(op.get_bind())
    backfill_critical(op.get_bind())
    _drop(_old_indexes())
    _create(_new_indexes())
    op.create_index("ix_events_commitments", "events", ["project_id", "stage"], unique=False,
                    sqlite_where=_COMMITMENT, postgresql_where=_COMMITMENT)


def downgrade() -> None:
    op.drop_index("ix_events_commitments", table_name="events")
    _drop(_new_indexes())
    _create(_old_indexes())
    with op.batch_alter_table("subjects", schema=None) as batch_op:
        batch_op.drop_column("critical")
        batch_op.drop_column("started_us")
        batch_op.drop_column("facet")
    op.drop_table("subject_facets")

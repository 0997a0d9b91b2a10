"""analytics at scale: subjects.parallel_after (并联 rate without a window over every matter), backfilled in
SQL; index for the 体外循环 (秒办) suspects

``parallel_after`` is the instant after which a started matter counts as run in parallel with a sibling of
its project stage (the epoch: always; NULL: not as things stand). ``measures.parallel_after`` defines it and
``ApprovalService._flush_ledger`` keeps it; ``backfill`` below computes the same from the existing rows with
one window pass (LEAD and running MAX over each project stage, ordered by start and key).

Revision ID: 0005
Revises: 0004
"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa
from sqlalchemy import and_, case, func, literal, select

import engine.persistence.tables


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_FINISHED = sa.text("ended_at IS NOT NULL")
_UTC = engine.persistence.tables.UTCDateTime


def backfill(conn: sa.Connection) -> None:
    """Set ``parallel_after`` of every started matter from its siblings, in SQL (SQLite ≥ 3.25, PostgreSQL)."""
    s = sa.table("subjects", sa.column("project_id", sa.String), sa.column("key", sa.String),
                 sa.column("level", sa.String), sa.column("stage", sa.String), sa.column("started_at", _UTC()),
                 sa.column("ended_at", _UTC()), sa.column("parallel_after", _UTC()))
    window = {"partition_by": [s.c.project_id, s.c.stage], "order_by": [s.c.started_at, s.c.key]}
    earlier = {**window, "rows": (None, -1)}
    w = select(
        s.c.project_id, s.c.key, s.c.started_at, s.c.ended_at,
        func.lead(s.c.started_at).over(**window).label("next_start"),
        func.max(s.c.ended_at).over(**earlier).label("prev_end"),  # latest end among earlier finished siblings
        func.max(case((s.c.ended_at.is_(None), 1), else_=0)).over(**earlier).label("prev_running"),
    ).where(s.c.level == "matter", s.c.started_at.is_not(None)).subquery()
    always = literal(EPOCH, _UTC())
    # overlaps the next sibling: for good if it ended after the next start; from the next start while running
    later = case((and_(w.c.ended_at.is_(None), w.c.next_start.is_not(None)), w.c.next_start),
                 (w.c.next_start < w.c.ended_at, always), else_=None)
    # overlaps an earlier sibling: for good if one ended after its start; from its start while one still runs
    before = case((w.c.prev_end > w.c.started_at, always), (w.c.prev_running == 1, w.c.started_at), else_=None)
    first = case((later.is_(None), before), (before.is_(None), later), (later < before, later), else_=before)
    helper = sa.Table("parallel_after_backfill", sa.MetaData(), sa.Column("project_id", sa.String(40)),
                      sa.Column("key", sa.String(160)), sa.Column("parallel_after", _UTC()))
    helper.create(conn)
    try:
        conn.execute(helper.insert().from_select(["project_id", "key", "parallel_after"],
                                                 select(w.c.project_id, w.c.key, first)))
        conn.execute(sa.text("CREATE INDEX ix_parallel_after_backfill ON parallel_after_backfill (project_id, key)"))
        value = (select(helper.c.parallel_after)
                 .where(helper.c.project_id == s.c.project_id, helper.c.key == s.c.key).scalar_subquery())
        conn.execute(s.update().where(s.c.level == "matter", s.c.started_at.is_not(None)).values(parallel_after=value))
    finally:
        helper.drop(conn)


def upgrade() -> None:
    op.add_column("subjects", sa.Column("parallel_after", _UTC(timezone=True), nullable=True))
    backfill(op.get_bind())
    op.create_index("ix_subjects_level_started", "subjects", ["level", "started_at", "parallel_after"], unique=False)
    op.create_index("ix_subjects_done_span", "subjects",
                    ["level", "span_natural_days", "matter_id", "department", "ended_at"], unique=False,
                    sqlite_where=_FINISHED, postgresql_where=_FINISHED)


def downgrade() -> None:
    op.drop_index("ix_subjects_done_span", table_name="subjects")
    op.drop_index("ix_subjects_level_started", table_name="subjects")
    with op.batch_alter_table("subjects", schema=None) as batch_op:
        batch_op.drop_column("parallel_after")

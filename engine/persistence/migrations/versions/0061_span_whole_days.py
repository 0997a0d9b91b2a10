"""The span's whole working days used (受理次日起算, clock stops included) beside its decimal working days, as
0012/0060 did for the approval time: ``subjects.span_days_used`` and one sorted partial index per distribution
family (``ix_subjects_done_<family>_sdused``). Subjects finished before this revision keep NULL (the count needs
the jurisdiction's calendar, which a migration does not load); they are left out of that count only.

Revision ID: 0061_span_whole_days
Revises: 0060_whole_days_indexes
"""
import sqlalchemy as sa
from alembic import op

revision = "0061_span_whole_days"
down_revision = "0060_whole_days_indexes"
branch_labels = None
depends_on = None

_FINISHED = sa.text("ended_at IS NOT NULL")
_PROJECTS = sa.text("level = 'project' AND ended_at IS NOT NULL")
_KEYS = ["facet", "started_us", "ended_at"]


def _indexes() -> list[tuple[str, list[str], sa.TextClause]]:
    out = [(f"ix_subjects_done_{name}_sdused", ["level", group, "span_days_used", *_KEYS], _FINISHED)
           for name, group in (("department", "department"), ("matter", "matter_id"), ("stage", "stage"))]
    out.append(("ix_subjects_done_project_sdused", ["project_type", "span_days_used", *_KEYS], _PROJECTS))
    return out


def upgrade() -> None:
    op.add_column("subjects", sa.Column("span_days_used", sa.Integer(), nullable=True))
    for name, columns, where in _indexes():
        op.create_index(name, "subjects", columns, unique=False, sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    for name, _, _ in _indexes():
        op.drop_index(name, table_name="subjects")
    with op.batch_alter_table("subjects") as batch:
        batch.drop_column("span_days_used")

"""The whole working days used (受理次日起算) in every distribution, for the approval time
(``subjects.approval_days_used``, 0012) and the span (``subjects.span_days_used``, stops included, added here):
one sorted partial index per distribution family and count, as the decimal durations have (0007), so their
median and p90 under any filter are an index walk too (``ix_subjects_done_<family>_dused`` / ``_sdused``).
Subjects finished before this revision keep a NULL span count (it needs the jurisdiction's calendar, which a
migration does not load) and are left out of that count only.

Revision ID: 0060_whole_days_indexes
Revises: 0040_route_rule_tables
"""
import sqlalchemy as sa
from alembic import op

revision = "0060_whole_days_indexes"
down_revision = "0040_route_rule_tables"
branch_labels = None
depends_on = None

_FINISHED = sa.text("ended_at IS NOT NULL")
_PROJECTS = sa.text("level = 'project' AND ended_at IS NOT NULL")
_KEYS = ["facet", "started_us", "ended_at"]
_COUNTS = {"dused": "approval_days_used", "sdused": "span_days_used"}


def _indexes() -> list[tuple[str, list[str], sa.TextClause]]:
    out = []
    for suffix, column in _COUNTS.items():
        out += [(f"ix_subjects_done_{name}_{suffix}", ["level", group, column, *_KEYS], _FINISHED)
                for name, group in (("department", "department"), ("matter", "matter_id"), ("stage", "stage"))]
        out.append((f"ix_subjects_done_project_{suffix}", ["project_type", column, *_KEYS], _PROJECTS))
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

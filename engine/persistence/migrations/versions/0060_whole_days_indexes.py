"""The whole working days used (受理次日起算, ``subjects.approval_days_used``) in every distribution: one sorted
partial index per distribution family, as the decimal durations have (0007), so its median and p90 under any
filter are an index walk too (``ix_subjects_done_<family>_dused``).

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


def _indexes() -> list[tuple[str, list[str], sa.TextClause]]:
    out = [(f"ix_subjects_done_{name}_dused", ["level", group, "approval_days_used", *_KEYS], _FINISHED)
           for name, group in (("department", "department"), ("matter", "matter_id"), ("stage", "stage"))]
    out.append(("ix_subjects_done_project_dused", ["project_type", "approval_days_used", *_KEYS], _PROJECTS))
    return out


def upgrade() -> None:
    for name, columns, where in _indexes():
        op.create_index(name, "subjects", columns, unique=False, sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    for name, _, _ in _indexes():
        op.drop_index(name, table_name="subjects")

"""analytics at scale: partial covering indexes over finished subjects (distributions, overdue, 超时默许)

Only finished subjects (``ended_at IS NOT NULL``) enter these indexes, so the many updates of a running
subject do not touch them. Creating an index fills it from the existing rows: no separate backfill.

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_FINISHED = sa.text("ended_at IS NOT NULL")
_METRICS = ("span_natural_days", "span_working_days", "approval_natural_days", "approval_working_days")
_ORDER = {"swd": "span_working_days", "and": "approval_natural_days", "awd": "approval_working_days"}
_GROUPS = {"department": "department", "matter": "matter_id", "stage": "stage"}


def _indexes() -> list[tuple[str, list[str]]]:
    out = []
    for name, group in _GROUPS.items():
        out.append((f"ix_subjects_done_{name}", ["level", group, *_METRICS, "ended_at"]))  # ended_at: covering on SQLite
        out += [(f"ix_subjects_done_{name}_{suffix}", ["level", group, metric]) for suffix, metric in _ORDER.items()]
    out.append(("ix_subjects_done_outcome", ["level", "outcome", "overdue", "statutory_overdue", "ended_at"]))
    return out


def upgrade() -> None:
    for name, columns in _indexes():
        op.create_index(name, "subjects", columns, unique=False, sqlite_where=_FINISHED, postgresql_where=_FINISHED)


def downgrade() -> None:
    for name, _ in reversed(_indexes()):
        op.drop_index(name, table_name="subjects")

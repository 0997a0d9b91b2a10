"""incidents: projects whose timers failed to load or step (engine/services/incidents.py)

Revision ID: 0013_ops_incidents
Revises: 0012_analytics_division
"""
from alembic import op
import sqlalchemy as sa

import engine.persistence.tables

revision = "0013_ops_incidents"
down_revision = "0012_analytics_division"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("project_id", sa.String(length=40), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("opened_at", engine.persistence.tables.UTCDateTime(), nullable=False),
        sa.Column("failed_at", engine.persistence.tables.UTCDateTime(), nullable=False),
        sa.Column("resolved_at", engine.persistence.tables.UTCDateTime(), nullable=True),
        sa.Column("resolved_by", sa.String(length=100), nullable=True),
    )
    op.create_index("ix_incidents_project_status", "incidents", ["project_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_incidents_project_status", table_name="incidents")
    op.drop_table("incidents")

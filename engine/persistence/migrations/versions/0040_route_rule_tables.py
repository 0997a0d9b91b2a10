"""rule_tables: matter-selection decision tables (DMN) deployed by administrators, versioned per profile

Revision ID: 0040_route_rule_tables
Revises: 0015_ops_audit_chain
"""
from alembic import op
import sqlalchemy as sa

import engine.persistence.tables

revision = "0040_route_rule_tables"
down_revision = "0015_ops_audit_chain"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rule_tables",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("profile", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("deployed_at", engine.persistence.tables.UTCDateTime(), nullable=False),
        sa.Column("deployed_by", sa.String(length=100), nullable=True),
        sa.UniqueConstraint("profile", "version", name="uq_rule_table_version"),
        sa.UniqueConstraint("profile", "content_hash", name="uq_rule_table_content"),
    )


def downgrade() -> None:
    op.drop_table("rule_tables")

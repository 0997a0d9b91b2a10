"""task claims (认领): who is working on a ready task

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa

import engine.persistence.tables

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("claimed_at", engine.persistence.tables.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("claimed_at")
        batch.drop_column("claimed_by")

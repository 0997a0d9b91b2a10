"""analytics: statutory due date, approval time in natural days, intake and procedure columns, indexes

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa
import engine.persistence.tables


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subjects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("statutory_due", engine.persistence.tables.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("statutory_overdue", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("approval_natural_days", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("intake", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("procedure", sa.String(length=40), nullable=True))
        batch_op.create_index("ix_subjects_level_department", ["level", "department"], unique=False)
        batch_op.create_index("ix_subjects_level_matter", ["level", "matter_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("subjects", schema=None) as batch_op:
        batch_op.drop_index("ix_subjects_level_matter")
        batch_op.drop_index("ix_subjects_level_department")
        batch_op.drop_column("procedure")
        batch_op.drop_column("intake")
        batch_op.drop_column("approval_natural_days")
        batch_op.drop_column("statutory_overdue")
        batch_op.drop_column("statutory_due")

"""an owner's inbox as an index walk: ix_tasks_owner_inbox (owner_id, state, due order, created_at, id)

Revision ID: 0051_speed_owner_inbox
Revises: 0050_speed_packed_parts
"""
from alembic import op
import sqlalchemy as sa

revision = "0051_speed_owner_inbox"
down_revision = "0050_speed_packed_parts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tasks_owner_inbox", "tasks",
                    ["owner_id", "state", sa.text("(due_at IS NULL)"), "due_at", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_tasks_owner_inbox", table_name="tasks")

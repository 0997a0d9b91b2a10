"""Indexes for listings paginated in the database (issue 14): projects in keyset order (every reader, each
owner, each status), "has this department a task in this project?" for an agency's project list, and an
agency's inbox by state (so it does not walk the department's finished tasks).

Revision ID: 0011_throughput_indexes
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0011_throughput_indexes"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_projects_listing", "projects", ["created_at", "id"])
    op.create_index("ix_projects_owner_listing", "projects", ["owner_id", "created_at", "id"])
    op.create_index("ix_projects_status_listing", "projects", ["status", "created_at", "id"])
    op.create_index("ix_tasks_department_project", "tasks", ["department", "project_id"])
    op.create_index("ix_tasks_department_inbox", "tasks",
                    ["department", "state", sa.text("(due_at IS NULL)"), "due_at", "created_at", "id"])
    op.create_index("ix_tasks_queue", "tasks", ["state", sa.text("(due_at IS NULL)"), "due_at", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_tasks_queue", table_name="tasks")
    op.drop_index("ix_tasks_department_inbox", table_name="tasks")
    op.drop_index("ix_tasks_department_project", table_name="tasks")
    op.drop_index("ix_projects_status_listing", table_name="projects")
    op.drop_index("ix_projects_owner_listing", table_name="projects")
    op.drop_index("ix_projects_listing", table_name="projects")

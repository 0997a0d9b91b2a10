"""projects.plan: the matters a project's case (情形) requires, each with the rule that decided it;
credit_records.project_id nullable (an operator records external credit information, not tied to a project)

Projects filed before this revision keep a NULL plan and run the catalogue's matters of their type, as they
did when they were filed (engine.services.execution falls back for them).

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("plan", sa.JSON(), nullable=True))
    with op.batch_alter_table("credit_records") as batch:
        batch.alter_column("project_id", existing_type=sa.String(length=40), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM credit_records WHERE project_id IS NULL")
    with op.batch_alter_table("credit_records") as batch:
        batch.alter_column("project_id", existing_type=sa.String(length=40), nullable=False)
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("plan")

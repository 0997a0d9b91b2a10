"""行政区划代码 on projects and subjects (and in the facet a filter tests), and the whole working days used

- ``projects.division_code`` (indexed), ``subjects.division_code`` and ``subject_facets.division_code``: the
  6-digit administrative division that handles the project (engine/domain/divisions.py). Projects filed before
  have none; their facet ids do not change (a division joins the facet hash only when there is one), so there
  is nothing to backfill.
- ``subjects.approval_days_used``: whole working days used, 受理次日起算 (engine/domain/timing.py), written by
  the engine from now on; older rows get it when they next change.

Revision ID: 0012_analytics_division
Revises: 0011_throughput_indexes
"""
from alembic import op
import sqlalchemy as sa

revision = "0012_analytics_division"
down_revision = "0011_throughput_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN (no table copy: subjects holds millions of rows at scale)
    op.add_column("projects", sa.Column("division_code", sa.String(6), nullable=True))
    op.create_index("ix_projects_division_code", "projects", ["division_code"])
    op.add_column("subjects", sa.Column("division_code", sa.String(6), nullable=True))
    op.add_column("subjects", sa.Column("approval_days_used", sa.Integer(), nullable=True))
    op.add_column("subject_facets", sa.Column("division_code", sa.String(6), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subject_facets") as batch:
        batch.drop_column("division_code")
    with op.batch_alter_table("subjects") as batch:
        batch.drop_column("approval_days_used")
        batch.drop_column("division_code")
    with op.batch_alter_table("projects") as batch:
        batch.drop_index("ix_projects_division_code")
        batch.drop_column("division_code")

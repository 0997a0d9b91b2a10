"""电子证照 and 项目代码: the certificates table and projects.project_code (engine/domain/certificates.py)

- ``certificates``: one row per certificate a matter's approving result issued (number, type, holder, issuing
  department, issue and expiry dates, status valid / revoked / expired), kept from the ledger events in the
  transaction that writes them. Projects that finished before have none (their events are not replayed).
- ``projects.project_code``: the national project code (项目代码), unique where set (a unique index: SQLite cannot
  add a UNIQUE column in place).

Revision ID: 0030_certificates
Revises: 0051_speed_owner_inbox
"""
from alembic import op
import sqlalchemy as sa

from engine.persistence.tables import UTCDateTime

revision = "0030_certificates"
down_revision = "0051_speed_owner_inbox"  # main's head when this branch was last rebased (the lead re-chains at merge)
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("projects", sa.Column("project_code", sa.String(24), nullable=True))
    op.create_index("ux_projects_project_code", "projects", ["project_code"], unique=True)
    op.create_table(
        "certificates",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("number", sa.String(80), nullable=False, unique=True),
        sa.Column("project_id", sa.String(40), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("project_code", sa.String(24), nullable=True),
        sa.Column("owner_id", sa.String(100), nullable=False),
        sa.Column("holder_name", sa.String(200), nullable=True),
        sa.Column("type_id", sa.String(40), nullable=False),
        sa.Column("type_name", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("department", sa.String(40), nullable=True),
        sa.Column("stage", sa.String(10), nullable=True),
        sa.Column("matter_key", sa.String(160), nullable=False),
        sa.Column("matter_id", sa.String(80), nullable=False),
        sa.Column("division_code", sa.String(6), nullable=True),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("revocation_reason", sa.Text(), nullable=True),
        sa.Column("expired_at", UTCDateTime(), nullable=True),
        sa.Column("reminded_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("project_id", "matter_key", name="uq_certificates_matter"),
    )
    op.create_index("ix_certificates_project", "certificates", ["project_id", "issued_at", "id"])
    op.create_index("ix_certificates_owner", "certificates", ["owner_id", "issued_at", "id"])
    op.create_index("ix_certificates_expiry", "certificates", ["status", "expires_at"])


def downgrade() -> None:
    op.drop_table("certificates")
    op.drop_index("ux_projects_project_code", table_name="projects")
    # in place (SQLite ≥ 3.35 and PostgreSQL): a batch copy of projects would trip the foreign keys of its rows
    op.execute("ALTER TABLE projects DROP COLUMN project_code")

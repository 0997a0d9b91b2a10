"""project numbers from a sequence (PostgreSQL) or a counter row (SQLite), started past the existing ids

Revision ID: 0014_ops_project_ids
Revises: 0013_ops_incidents
"""
from alembic import op
import sqlalchemy as sa

from engine.persistence.ids import COUNTER, SEQUENCE, highest_number

revision = "0014_ops_project_ids"
down_revision = "0013_ops_incidents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    counters = op.create_table(
        "id_counters",
        sa.Column("name", sa.String(length=40), primary_key=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
    )
    bind = op.get_bind()
    start = highest_number(bind.execute(sa.text("SELECT id FROM projects")).scalars())
    if bind.dialect.name == "postgresql":
        op.execute(f"CREATE SEQUENCE IF NOT EXISTS {SEQUENCE} AS BIGINT START WITH 1 MINVALUE 1")
        if start:
            op.execute(f"SELECT setval('{SEQUENCE}', {int(start)}, true)")
    else:
        op.bulk_insert(counters, [{"name": COUNTER, "value": start}])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP SEQUENCE IF EXISTS {SEQUENCE}")
    op.drop_table("id_counters")

"""workflow_parts.state as compressed JSON bytes (engine.persistence.tables.PackedJSON)

Existing rows are not rewritten: PostgreSQL keeps their JSON text as bytes, SQLite keeps the text, and both read
as before; every part a step writes from now on is compressed.

Revision ID: 0050_speed_packed_parts
Revises: 0060_whole_days_indexes
"""
from alembic import op
import sqlalchemy as sa

revision = "0050_speed_packed_parts"
down_revision = "0060_whole_days_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("workflow_parts", "state", type_=sa.LargeBinary(),
                        postgresql_using="convert_to(state::text, 'UTF8')")
    # SQLite stores any value in any column: the text rows stay as they are, new rows are blobs


def downgrade() -> None:
    from engine.persistence.tables import PackedJSON

    bind = op.get_bind()
    packed = PackedJSON()
    parts = sa.table("workflow_parts", sa.column("project_id"), sa.column("part"), sa.column("state", sa.LargeBinary()))
    rows = list(bind.execute(sa.select(parts.c.project_id, parts.c.part, parts.c.state)))
    if bind.dialect.name == "postgresql":
        op.alter_column("workflow_parts", "state", type_=sa.JSON(), postgresql_using="'{}'::json")
    plain = sa.table("workflow_parts", sa.column("project_id"), sa.column("part"), sa.column("state", sa.JSON()))
    for project_id, part, state in rows:
        bind.execute(plain.update().where((plain.c.project_id == project_id) & (plain.c.part == part))
                     .values(state=packed.process_result_value(state, bind.dialect)))

"""the audit chain: events.seq / prev_hash / hash, audit_heads, admin_events (engine/persistence/audit.py)

Existing events are chained in the order they were written (their id), project by project, in batches.

Revision ID: 0015_ops_audit_chain
Revises: 0014_ops_project_ids
"""
from alembic import op
import sqlalchemy as sa

import engine.persistence.tables
from engine.persistence import audit

revision = "0015_ops_audit_chain"
down_revision = "0014_ops_project_ids"
branch_labels = None
depends_on = None

_events = sa.table("events", *(sa.column(c) for c in ("id", "seq", "prev_hash", "hash")))


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    heads = op.create_table(
        "audit_heads",
        sa.Column("chain", sa.String(length=80), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
    )
    op.create_table(
        "admin_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", engine.persistence.tables.UTCDateTime(), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
    )
    bind = op.get_bind()
    events = engine.persistence.tables.events
    columns = [events.c.id, *(events.c[f] for f in audit.EVENT_FIELDS if f != "seq")]
    project_ids = list(bind.execute(sa.select(events.c.project_id).distinct().order_by(events.c.project_id)).scalars())
    head_rows = []
    for project_id in project_ids:
        rows = [dict(r) for r in bind.execute(sa.select(*columns).where(events.c.project_id == project_id)
                                              .order_by(events.c.id)).mappings()]
        previous = audit.GENESIS
        for seq, row in enumerate(rows, start=1):
            row["seq"], row["prev_hash"] = seq, previous
            row["hash"] = previous = audit.digest(previous, row, audit.EVENT_FIELDS)
        bind.execute(sa.update(_events).where(_events.c.id == sa.bindparam("b_id"))
                     .values(seq=sa.bindparam("b_seq"), prev_hash=sa.bindparam("b_prev"), hash=sa.bindparam("b_hash")),
                     [{"b_id": r["id"], "b_seq": r["seq"], "b_prev": r["prev_hash"], "b_hash": r["hash"]} for r in rows])
        head_rows.append({"chain": audit.project_chain(project_id), "seq": len(rows), "hash": previous})
        if len(head_rows) >= 1000:
            op.bulk_insert(heads, head_rows)
            head_rows = []
    if head_rows:
        op.bulk_insert(heads, head_rows)


def downgrade() -> None:
    op.drop_table("admin_events")
    op.drop_table("audit_heads")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
        batch.drop_column("seq")

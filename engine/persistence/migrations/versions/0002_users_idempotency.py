"""users (bearer tokens, hashed) and idempotency keys of the HTTP API

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa
import engine.persistence.tables


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('users',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('department', sa.String(length=40), nullable=True),
    sa.Column('owner_ids', sa.JSON(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', engine.persistence.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('name'),
    sa.UniqueConstraint('token_hash'),
    )
    op.create_table('idempotency_keys',
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('response', sa.JSON(), nullable=False),
    sa.Column('created_at', engine.persistence.tables.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('actor', 'key'),
    )


def downgrade() -> None:
    op.drop_table('idempotency_keys')
    op.drop_table('users')

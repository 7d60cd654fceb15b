"""card trust replica

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 03:29:28.945403
"""
import sqlalchemy as sa
from alembic import op

import kassa.common.db

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('blocked_cards',
    sa.Column('card_number', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('blocked_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('card_number', name=op.f('pk_blocked_cards'))
    )
    op.create_table('card_counters',
    sa.Column('card_number', sa.String(length=16), nullable=False),
    sa.Column('highest', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('card_number', name=op.f('pk_card_counters'))
    )
    op.create_table('issuer_keys',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('public_key_pem', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issuer_keys'))
    )
    op.create_table('peer_nodes',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('public_key_pem', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_peer_nodes'))
    )


def downgrade() -> None:
    op.drop_table('peer_nodes')
    op.drop_table('issuer_keys')
    op.drop_table('card_counters')
    op.drop_table('blocked_cards')

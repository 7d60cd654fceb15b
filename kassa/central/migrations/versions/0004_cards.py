"""cards and issuer keys

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 03:28:50.498615
"""
import sqlalchemy as sa
from alembic import op

import kassa.common.db

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('issuer_keys',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('public_key_pem', sa.Text(), nullable=False),
    sa.Column('created_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issuer_keys'))
    )
    op.create_table('cards',
    sa.Column('card_number', sa.String(length=16), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('issuer_key_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=False),
    sa.Column('issued_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('activated_at', kassa.common.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('blocked_at', kassa.common.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('block_reason', sa.String(length=32), nullable=True),
    sa.Column('replaced_by', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['loyalty_accounts.id'], name=op.f('fk_cards_account_id_loyalty_accounts')),
    sa.ForeignKeyConstraint(['issuer_key_id'], ['issuer_keys.id'], name=op.f('fk_cards_issuer_key_id_issuer_keys')),
    sa.PrimaryKeyConstraint('card_number', name=op.f('pk_cards'))
    )
    with op.batch_alter_table('cards', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cards_account_id'), ['account_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('cards', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cards_account_id'))

    op.drop_table('cards')
    op.drop_table('issuer_keys')

"""loyalty accounts, ledger, redemption holds

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 03:24:42.144868
"""
import sqlalchemy as sa
from alembic import op

import kassa.common.db

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('loyalty_accounts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('tier', sa.String(length=32), nullable=False),
    sa.Column('balance', sa.BigInteger(), nullable=False),
    sa.Column('held', sa.BigInteger(), nullable=False),
    sa.Column('review_at', kassa.common.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_loyalty_accounts_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loyalty_accounts')),
    sa.UniqueConstraint('customer_id', name=op.f('uq_loyalty_accounts_customer_id'))
    )
    op.create_table('loyalty_entries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('cause', sa.String(length=160), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', kassa.common.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('recorded_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['loyalty_accounts.id'], name=op.f('fk_loyalty_entries_account_id_loyalty_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loyalty_entries')),
    sa.UniqueConstraint('cause', name=op.f('uq_loyalty_entries_cause'))
    )
    with op.batch_alter_table('loyalty_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_loyalty_entries_account_id'), ['account_id'], unique=False)

    op.create_table('redemption_holds',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('node_id', sa.String(length=32), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('sale_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', kassa.common.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['loyalty_accounts.id'], name=op.f('fk_redemption_holds_account_id_loyalty_accounts')),
    sa.ForeignKeyConstraint(['node_id'], ['nodes.id'], name=op.f('fk_redemption_holds_node_id_nodes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_redemption_holds'))
    )
    with op.batch_alter_table('redemption_holds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_redemption_holds_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_redemption_holds_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_redemption_holds_status'), ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('redemption_holds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_redemption_holds_status'))
        batch_op.drop_index(batch_op.f('ix_redemption_holds_expires_at'))
        batch_op.drop_index(batch_op.f('ix_redemption_holds_account_id'))

    op.drop_table('redemption_holds')
    with op.batch_alter_table('loyalty_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_loyalty_entries_account_id'))

    op.drop_table('loyalty_entries')
    op.drop_table('loyalty_accounts')

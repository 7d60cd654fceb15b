"""loyalty at the till: points on sales and returns, the till's own postings

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 05:07:51.622096
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import kassa.common.db

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('loyalty_postings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('offline', sa.Boolean(), nullable=False),
    sa.Column('at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('outbox_seq', sa.BigInteger(), nullable=False),
    sa.Column('absorbed', sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loyalty_postings'))
    )
    with op.batch_alter_table('loyalty_postings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_loyalty_postings_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_loyalty_postings_outbox_seq'), ['outbox_seq'], unique=False)

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('card_has_pin', sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table('loyalty_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expiring', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))

    with op.batch_alter_table('return_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('points_reversed', sa.BigInteger(), nullable=False, server_default='0'))

    with op.batch_alter_table('returns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('points_refunded', sa.BigInteger(), nullable=False, server_default='0'))

    with op.batch_alter_table('sale_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('points_earned', sa.BigInteger(), nullable=False, server_default='0'))

    with op.batch_alter_table('sales', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('card_number', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('points_burned', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('points_value_minor', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('points_hold_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('points_offline', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column('sales', 'points_offline')
    op.drop_column('sales', 'points_hold_id')
    op.drop_column('sales', 'points_value_minor')
    op.drop_column('sales', 'points_burned')
    op.drop_column('sales', 'card_number')
    op.drop_column('sales', 'account_id')
    op.drop_column('sale_lines', 'points_earned')
    op.drop_column('returns', 'points_refunded')
    op.drop_column('returns', 'account_id')
    op.drop_column('return_lines', 'points_reversed')
    op.drop_column('loyalty_accounts', 'expiring')
    op.drop_column('customers', 'card_has_pin')
    with op.batch_alter_table('loyalty_postings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_loyalty_postings_outbox_seq'))
        batch_op.drop_index(batch_op.f('ix_loyalty_postings_account_id'))
    op.drop_table('loyalty_postings')

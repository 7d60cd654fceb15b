"""loyalty at the till: points on sales and returns, PIN flag of cards, expiring points

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 05:07:51.457117
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cards', schema=None) as batch_op:
        batch_op.add_column(sa.Column('has_pin', sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('card_has_pin', sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table('loyalty_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expiring', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))

    with op.batch_alter_table('return_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('points_reversed', sa.BigInteger(), nullable=False, server_default='0'))

    with op.batch_alter_table('returns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('points_refunded', sa.BigInteger(), nullable=False, server_default='0'))

    with op.batch_alter_table('sale_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('points_earned', sa.BigInteger(), nullable=False, server_default='0'))

    with op.batch_alter_table('sales', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('points_burned', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('points_hold_id', sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f('ix_sales_customer_id'), ['customer_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('sales', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sales_customer_id'))
    op.drop_column('sales', 'points_hold_id')
    op.drop_column('sales', 'points_burned')
    op.drop_column('sales', 'account_id')
    op.drop_column('sale_lines', 'points_earned')
    op.drop_column('returns', 'points_refunded')
    op.drop_column('return_lines', 'points_reversed')
    op.drop_column('loyalty_accounts', 'expiring')
    op.drop_column('customers', 'card_has_pin')
    op.drop_column('cards', 'has_pin')

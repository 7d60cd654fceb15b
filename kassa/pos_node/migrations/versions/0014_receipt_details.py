"""what a receipt a customer keeps prints: the store's address, the points after the sale

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-07 19:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('stores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('address', sa.String(length=300), server_default='',
                                      nullable=False))
    with op.batch_alter_table('sales', schema=None) as batch_op:
        batch_op.add_column(sa.Column('points_balance_after', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column('sales', 'points_balance_after')
    op.drop_column('stores', 'address')

"""sync state, key rotation, customer contact

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 02:10:08.768402
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('email', sa.String(length=200), nullable=True))

    with op.batch_alter_table('node_identity', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sync_error_code', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('clock_skew_seconds', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('pending_private_key_pem', sa.Text(), nullable=True))

    # The node's per-day totals for central's reconciliation report read by these.
    with op.batch_alter_table('sales', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sales_sold_at'), ['sold_at'], unique=False)
    with op.batch_alter_table('returns', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_returns_created_at'), ['created_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('returns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_returns_created_at'))
    with op.batch_alter_table('sales', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sales_sold_at'))
    with op.batch_alter_table('node_identity', schema=None) as batch_op:
        batch_op.drop_column('pending_private_key_pem')
        batch_op.drop_column('clock_skew_seconds')
        batch_op.drop_column('sync_error_code')

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('email')
        batch_op.drop_column('phone')


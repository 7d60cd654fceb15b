"""each node's Litestream backup as it last reported: state, lag, last error

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-27 13:14:12
"""
import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('backup_state', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('backup_lag_seconds', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('backup_error', sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.drop_column('backup_error')
        batch_op.drop_column('backup_lag_seconds')
        batch_op.drop_column('backup_state')

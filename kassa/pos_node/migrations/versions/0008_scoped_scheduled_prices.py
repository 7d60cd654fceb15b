"""region prices, scheduled price changes, store time zone

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 08:20:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('stores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('timezone', sa.String(length=64), nullable=False,
                                      server_default='UTC'))
    with op.batch_alter_table('prices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('region_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('effective_from', sa.DateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column('prices', 'effective_from')
    op.drop_column('prices', 'region_id')
    op.drop_column('stores', 'timezone')

"""blocked customers

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 08:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('blocked', sa.Boolean(), nullable=False,
                                      server_default='0'))


def downgrade() -> None:
    op.drop_column('customers', 'blocked')

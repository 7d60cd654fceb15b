"""blocked customers

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 08:40:00
"""
import sqlalchemy as sa
from alembic import op

import kassa.common.db

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('blocked_at', kassa.common.db.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('block_reason', sa.String(length=200), nullable=True))


def downgrade() -> None:
    op.drop_column('customers', 'block_reason')  # native: customers is referenced
    op.drop_column('customers', 'blocked_at')

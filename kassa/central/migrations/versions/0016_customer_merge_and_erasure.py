"""customers merged into others, customers anonymized

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-27 09:30:00
"""
import sqlalchemy as sa
from alembic import op

import kassa.common.db

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('merged_into_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('anonymized_at', kassa.common.db.UTCDateTime(timezone=True),
                                      nullable=True))


def downgrade() -> None:
    op.drop_column('customers', 'anonymized_at')  # native: customers is referenced
    op.drop_column('customers', 'merged_into_id')

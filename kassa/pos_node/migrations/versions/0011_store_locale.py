"""a store's language and currency: the till's screen, customer display and receipt follow
them

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 16:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('stores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=8), server_default='en', nullable=False))
        batch_op.add_column(sa.Column('currency', sa.String(length=3), server_default='RUB', nullable=False))


def downgrade() -> None:
    op.drop_column('stores', 'currency')
    op.drop_column('stores', 'locale')

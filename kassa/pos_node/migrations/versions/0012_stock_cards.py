"""cards in the store's stock, which the till may give new members

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 17:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('stock_cards',
    sa.Column('card_number', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.PrimaryKeyConstraint('card_number', name=op.f('pk_stock_cards'))
    )


def downgrade() -> None:
    op.drop_table('stock_cards')

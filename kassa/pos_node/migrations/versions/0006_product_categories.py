"""product categories (loyalty multipliers, reports)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 06:00:04.633717
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('category', sa.String(length=64), nullable=True))



def downgrade() -> None:
    op.drop_column('products', 'category')

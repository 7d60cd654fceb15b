"""product categories (loyalty multipliers, reports)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 06:00:04.359610
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('category', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_products_category'), ['category'], unique=False)



def downgrade() -> None:
    op.drop_index(op.f('ix_products_category'), table_name='products')
    op.drop_column('products', 'category')

"""a store's address, printed on its receipts; a product's names in other languages

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07 19:40:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0032'
down_revision = '0031'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('stores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('address', sa.String(length=300), server_default='',
                                      nullable=False))
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('names', sa.JSON().with_variant(
            postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))


def downgrade() -> None:
    op.drop_column('products', 'names')
    op.drop_column('stores', 'address')

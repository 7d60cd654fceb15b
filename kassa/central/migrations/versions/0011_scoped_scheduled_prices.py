"""prices per region and store with scheduled changes; store time zones

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 08:20:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

SLOT = ("product_id", sa.text("coalesce(store_id, 0)"), sa.text("coalesce(region_id, 0)"),
        sa.text("coalesce(effective_from, '1970-01-01 00:00:00')"))


def upgrade() -> None:
    with op.batch_alter_table('stores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('timezone', sa.String(length=64), nullable=False,
                                      server_default='UTC'))
    with op.batch_alter_table('prices', schema=None) as batch_op:
        batch_op.drop_constraint('uq_prices_product_id', type_='unique')
        batch_op.add_column(sa.Column('region_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('effective_from', sa.DateTime(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_prices_region_id_regions'), 'regions',
                                    ['region_id'], ['id'])
    op.create_index('uq_prices_slot', 'prices', list(SLOT), unique=True)


def downgrade() -> None:
    op.drop_index('uq_prices_slot', table_name='prices')
    with op.batch_alter_table('prices', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_prices_region_id_regions'), type_='foreignkey')
        batch_op.drop_column('effective_from')
        batch_op.drop_column('region_id')
        batch_op.create_unique_constraint('uq_prices_product_id', ['product_id', 'store_id'])
    op.drop_column('stores', 'timezone')  # native: a batch copy would break its references

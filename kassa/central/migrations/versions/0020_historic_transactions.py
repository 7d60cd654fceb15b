"""historic transactions: customers' purchases from before kassa, loaded from CSV

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-27 10:41:13.568547
"""
import sqlalchemy as sa
from alembic import op

import kassa.common.db

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('historic_transactions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('quantity_milli', sa.BigInteger(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=True),
    sa.Column('product_id', sa.Integer(), nullable=True),
    sa.Column('batch', sa.String(length=64), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('imported_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_historic_transactions_customer_id_customers')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_historic_transactions_product_id_products')),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_historic_transactions_store_id_stores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_historic_transactions')),
    sa.UniqueConstraint('batch', 'line_no', name=op.f('uq_historic_transactions_batch'))
    )
    with op.batch_alter_table('historic_transactions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_historic_transactions_customer_id'), ['customer_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('historic_transactions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_historic_transactions_customer_id'))

    op.drop_table('historic_transactions')

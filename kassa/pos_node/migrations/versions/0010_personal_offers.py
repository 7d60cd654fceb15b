"""personal offers: the replica of offers and offer profiles, the open cart's exposures, the
offer a sale line took

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 10:52:50.260400
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import kassa.common.db

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('offer_profiles',
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('segment', sa.String(length=40), nullable=True),
    sa.Column('offers_ok', sa.Boolean(), nullable=False),
    sa.Column('held_out', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_offer_profiles'))
    )
    op.create_table('offers',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('trigger_product_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('discount_bp', sa.Integer(), nullable=False),
    sa.Column('segments', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offers'))
    )
    op.create_table('offer_exposures',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('sale_id', sa.Uuid(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('discount_bp', sa.Integer(), nullable=False),
    sa.Column('held_out', sa.Boolean(), nullable=False),
    sa.Column('shown_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['sale_id'], ['sales.id'], name=op.f('fk_offer_exposures_sale_id_sales')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offer_exposures')),
    sa.UniqueConstraint('sale_id', 'customer_id', 'offer_id',
                        name=op.f('uq_offer_exposures_sale_id'))
    )
    with op.batch_alter_table('sale_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('offer_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('offer_discount_bp', sa.Integer(), server_default='0',
                                      nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('sale_lines', schema=None) as batch_op:
        batch_op.drop_column('offer_discount_bp')
        batch_op.drop_column('offer_id')

    op.drop_table('offer_exposures')
    op.drop_table('offers')
    op.drop_table('offer_profiles')

"""analytics: customers' scores, the RFM segment map (seeded with the usual segments), offers,
their settings and exposures, and the offer a sale line's discount came from

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-27 10:49:46.629642
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import kassa.common.db

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('offer_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('discount_bp', sa.Integer(), nullable=False),
    sa.Column('holdout_bp', sa.Integer(), nullable=False),
    sa.Column('min_support_bp', sa.Integer(), nullable=False),
    sa.Column('min_confidence_bp', sa.Integer(), nullable=False),
    sa.Column('min_lift_bp', sa.Integer(), nullable=False),
    sa.Column('max_offers', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offer_settings'))
    )
    op.create_table('rfm_segments',
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('segment', sa.String(length=40), nullable=False),
    sa.Column('r_min', sa.Integer(), nullable=False),
    sa.Column('r_max', sa.Integer(), nullable=False),
    sa.Column('f_min', sa.Integer(), nullable=False),
    sa.Column('f_max', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('priority', name=op.f('pk_rfm_segments'))
    )
    op.create_table('offers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rule_key', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('trigger_product_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('discount_bp', sa.Integer(), nullable=False),
    sa.Column('segments', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('support', sa.Float(), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('lift', sa.Float(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_offers_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offers')),
    sa.UniqueConstraint('rule_key', name=op.f('uq_offers_rule_key'))
    )
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_offers_product_id'), ['product_id'], unique=False)

    op.create_table('customer_scores',
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('segment', sa.String(length=40), nullable=True),
    sa.Column('r', sa.Integer(), nullable=True),
    sa.Column('f', sa.Integer(), nullable=True),
    sa.Column('m', sa.Integer(), nullable=True),
    sa.Column('p_alive', sa.Float(), nullable=True),
    sa.Column('expected_purchases_90d', sa.Float(), nullable=True),
    sa.Column('value_12m_minor', sa.BigInteger(), nullable=True),
    sa.Column('scored_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_scores_customer_id_customers')),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_customer_scores'))
    )
    with op.batch_alter_table('customer_scores', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_scores_segment'), ['segment'], unique=False)

    op.create_table('offer_exposures',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('node_id', sa.String(length=32), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('held_out', sa.Boolean(), nullable=False),
    sa.Column('at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sale_id', sa.Uuid(), nullable=True),
    sa.Column('accepted', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['node_id'], ['nodes.id'], name=op.f('fk_offer_exposures_node_id_nodes')),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_offer_exposures_store_id_stores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offer_exposures'))
    )
    with op.batch_alter_table('offer_exposures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_offer_exposures_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_offer_exposures_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_offer_exposures_offer_id'), ['offer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_offer_exposures_sale_id'), ['sale_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_offer_exposures_store_id'), ['store_id'], unique=False)

    with op.batch_alter_table('sale_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('offer_id', sa.Integer(), nullable=True))

    # The usual RFM segments on recency x frequency scores; every one of the 25 cells is in
    # one of them (tests/unit/test_rfm.py checks the map covers the grid).
    segments = sa.table("rfm_segments", *(sa.column(c) for c in (
        "priority", "segment", "r_min", "r_max", "f_min", "f_max")))
    op.bulk_insert(segments, [
        dict(zip(("priority", "segment", "r_min", "r_max", "f_min", "f_max"), row, strict=True))
        for row in ((10, "Champions", 4, 5, 4, 5), (20, "Can't lose them", 1, 1, 4, 5),
                    (30, "At risk", 1, 2, 3, 5), (40, "Loyal", 3, 5, 3, 5),
                    (50, "New", 5, 5, 1, 1), (60, "Potential loyalists", 3, 5, 1, 2),
                    (70, "Hibernating", 2, 2, 1, 2), (80, "Lost", 1, 1, 1, 2))])
    op.bulk_insert(sa.table("offer_settings", *(sa.column(c) for c in (
        "id", "discount_bp", "holdout_bp", "min_support_bp", "min_confidence_bp",
        "min_lift_bp", "max_offers"))), [dict(
            id=1, discount_bp=1000, holdout_bp=1000, min_support_bp=10,
            min_confidence_bp=2000, min_lift_bp=12000, max_offers=500)])


def downgrade() -> None:
    with op.batch_alter_table('sale_lines', schema=None) as batch_op:
        batch_op.drop_column('offer_id')

    with op.batch_alter_table('offer_exposures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_offer_exposures_store_id'))
        batch_op.drop_index(batch_op.f('ix_offer_exposures_sale_id'))
        batch_op.drop_index(batch_op.f('ix_offer_exposures_offer_id'))
        batch_op.drop_index(batch_op.f('ix_offer_exposures_customer_id'))
        batch_op.drop_index(batch_op.f('ix_offer_exposures_at'))

    op.drop_table('offer_exposures')
    with op.batch_alter_table('customer_scores', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_scores_segment'))

    op.drop_table('customer_scores')
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_offers_product_id'))

    op.drop_table('offers')
    op.drop_table('rfm_segments')
    op.drop_table('offer_settings')

"""customer 360: consents, interactions, leads

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-27 09:10:53.516466
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import kassa.common.db

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('form_submissions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('client_hash', sa.String(length=64), nullable=False),
    sa.Column('at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_form_submissions'))
    )
    with op.batch_alter_table('form_submissions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_form_submissions_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_form_submissions_client_hash'), ['client_hash'], unique=False)

    op.create_table('customer_consents',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('channel', sa.String(length=12), nullable=False),
    sa.Column('granted', sa.Boolean(), nullable=False),
    sa.Column('at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_consents_customer_id_customers')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_customer_consents_recorded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_consents'))
    )
    with op.batch_alter_table('customer_consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_consents_customer_id'), ['customer_id'], unique=False)

    op.create_table('interactions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('direction', sa.String(length=3), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=True),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('external_id', sa.String(length=100), nullable=True),
    sa.Column('source', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_interactions_customer_id_customers')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_interactions_recorded_by_id_users')),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_interactions_store_id_stores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_interactions')),
    sa.UniqueConstraint('external_id', name=op.f('uq_interactions_external_id'))
    )
    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_interactions_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_interactions_customer_id'), ['customer_id'], unique=False)

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=12), server_default='customer', nullable=False))
        batch_op.add_column(sa.Column('birthday', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('lead_source', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))
        batch_op.create_index(batch_op.f('ix_customers_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_customers_phone'), ['phone'], unique=False)



def downgrade() -> None:
    op.drop_index('ix_customers_phone', table_name='customers')
    op.drop_index('ix_customers_email', table_name='customers')
    for column in ('lead_source', 'birthday', 'status'):  # native: customers is referenced
        op.drop_column('customers', column)

    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_interactions_customer_id'))
        batch_op.drop_index(batch_op.f('ix_interactions_at'))

    op.drop_table('interactions')
    with op.batch_alter_table('customer_consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_consents_customer_id'))

    op.drop_table('customer_consents')
    with op.batch_alter_table('form_submissions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_form_submissions_client_hash'))
        batch_op.drop_index(batch_op.f('ix_form_submissions_at'))

    op.drop_table('form_submissions')

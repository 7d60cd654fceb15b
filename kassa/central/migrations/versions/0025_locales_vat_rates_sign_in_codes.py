"""languages and local rules: a store's language and currency, a user's language; VAT rates
as master data (20 %, 10 %, 0 % to start, the rates products already carry); one-time
sign-in codes for the customer's page

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-27 16:07:16.497398
"""
import sqlalchemy as sa
from alembic import op

import kassa.common.db

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('vat_rates',
    sa.Column('rate_bp', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('rate_bp', name=op.f('pk_vat_rates'))
    )
    rates = sa.table('vat_rates', sa.column('rate_bp', sa.Integer), sa.column('name', sa.String),
                     sa.column('active', sa.Boolean))
    op.bulk_insert(rates, [{'rate_bp': 2000, 'name': 'standard', 'active': True},
                           {'rate_bp': 1000, 'name': 'reduced', 'active': True},
                           {'rate_bp': 0, 'name': 'zero', 'active': True}])
    op.execute("INSERT INTO vat_rates (rate_bp, name, active) SELECT DISTINCT vat_rate_bp, "
               "'in use', true FROM products WHERE vat_rate_bp NOT IN (2000, 1000, 0)")
    op.create_table('sign_in_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('code_hash', sa.String(length=200), nullable=False),
    sa.Column('created_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', kassa.common.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_sign_in_codes_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_codes'))
    )
    with op.batch_alter_table('sign_in_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sign_in_codes_customer_id'), ['customer_id'], unique=False)

    with op.batch_alter_table('stores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=8), server_default='en', nullable=False))
        batch_op.add_column(sa.Column('currency', sa.String(length=3), server_default='RUB', nullable=False))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=8), nullable=True))



def downgrade() -> None:
    # native drops: a batch copy would break the references to these tables
    op.drop_column('users', 'locale')
    op.drop_column('stores', 'currency')
    op.drop_column('stores', 'locale')

    with op.batch_alter_table('sign_in_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sign_in_codes_customer_id'))

    op.drop_table('sign_in_codes')
    op.drop_table('vat_rates')

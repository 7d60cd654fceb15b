"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-26 23:42:20.746925
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import kassa.common.db

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('counters',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_counters'))
    )
    op.create_table('customers',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('card_number', sa.String(length=16), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers')),
    sa.UniqueConstraint('card_number', name=op.f('uq_customers_card_number'))
    )
    op.create_table('node_identity',
    sa.Column('node_id', sa.String(length=32), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('central_url', sa.String(length=300), nullable=False),
    sa.Column('private_key_pem', sa.Text(), nullable=False),
    sa.Column('feed_cursor', sa.BigInteger(), nullable=False),
    sa.Column('last_push_at', kassa.common.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_pull_at', kassa.common.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_sync_error', sa.Text(), nullable=True),
    sa.Column('last_contact_at', kassa.common.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('session_secret', sa.String(length=128), nullable=True),
    sa.Column('created_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('node_id', name=op.f('pk_node_identity'))
    )
    op.create_table('outbox_events',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('event_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('occurred_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('acked_at', kassa.common.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_outbox_events')),
    sa.UniqueConstraint('event_id', name=op.f('uq_outbox_events_event_id'))
    )
    with op.batch_alter_table('outbox_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_events_acked_at'), ['acked_at'], unique=False)

    op.create_table('overrides',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('manager_id', sa.Integer(), nullable=False),
    sa.Column('cashier_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_overrides'))
    )
    op.create_table('pin_failures',
    sa.Column('user_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('locked_until', kassa.common.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_pin_failures'))
    )
    op.create_table('prices',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=True),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prices'))
    )
    with op.batch_alter_table('prices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_prices_product_id'), ['product_id'], unique=False)

    op.create_table('products',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('vat_rate_bp', sa.Integer(), nullable=False),
    sa.Column('unit', sa.String(length=8), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products')),
    sa.UniqueConstraint('sku', name=op.f('uq_products_sku'))
    )
    op.create_table('promotions',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('product_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('percent_bp', sa.Integer(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('m', sa.Integer(), nullable=False),
    sa.Column('starts_at', kassa.common.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ends_at', kassa.common.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_promotions'))
    )
    op.create_table('role_limits',
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('max_discount_bp', sa.Integer(), nullable=False),
    sa.Column('max_refund_minor', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('role', name=op.f('pk_role_limits'))
    )
    op.create_table('shifts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('cashier_id', sa.Integer(), nullable=False),
    sa.Column('opened_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', kassa.common.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('opening_float_minor', sa.BigInteger(), nullable=False),
    sa.Column('expected_cash_minor', sa.BigInteger(), nullable=True),
    sa.Column('counted_cash_minor', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shifts')),
    sa.UniqueConstraint('number', name=op.f('uq_shifts_number'))
    )
    with op.batch_alter_table('shifts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shifts_status'), ['status'], unique=False)

    op.create_table('stores',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('region_code', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stores'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=True),
    sa.Column('pin_hash', sa.String(length=200), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('cash_movements',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('shift_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shift_id'], ['shifts.id'], name=op.f('fk_cash_movements_shift_id_shifts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cash_movements'))
    )
    with op.batch_alter_table('cash_movements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cash_movements_shift_id'), ['shift_id'], unique=False)

    op.create_table('product_barcodes',
    sa.Column('barcode', sa.String(length=32), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_barcodes_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('barcode', name=op.f('pk_product_barcodes'))
    )
    with op.batch_alter_table('product_barcodes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_product_barcodes_product_id'), ['product_id'], unique=False)

    op.create_table('returns',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('return_no', sa.String(length=64), nullable=False),
    sa.Column('original_sale_id', sa.Uuid(), nullable=True),
    sa.Column('original_receipt_no', sa.String(length=64), nullable=True),
    sa.Column('shift_id', sa.Uuid(), nullable=False),
    sa.Column('cashier_id', sa.Integer(), nullable=False),
    sa.Column('override_id', sa.Uuid(), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('total_minor', sa.BigInteger(), nullable=False),
    sa.Column('vat_minor', sa.BigInteger(), nullable=False),
    sa.Column('created_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shift_id'], ['shifts.id'], name=op.f('fk_returns_shift_id_shifts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_returns')),
    sa.UniqueConstraint('return_no', name=op.f('uq_returns_return_no'))
    )
    with op.batch_alter_table('returns', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_returns_original_receipt_no'), ['original_receipt_no'], unique=False)
        batch_op.create_index(batch_op.f('ix_returns_original_sale_id'), ['original_sale_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_returns_shift_id'), ['shift_id'], unique=False)

    op.create_table('sales',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('receipt_no', sa.String(length=64), nullable=True),
    sa.Column('shift_id', sa.Uuid(), nullable=True),
    sa.Column('cashier_id', sa.Integer(), nullable=True),
    sa.Column('started_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sold_at', kassa.common.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('customer_id', sa.Uuid(), nullable=True),
    sa.Column('receipt_discount_bp', sa.Integer(), nullable=False),
    sa.Column('gross_minor', sa.BigInteger(), nullable=False),
    sa.Column('discount_minor', sa.BigInteger(), nullable=False),
    sa.Column('total_minor', sa.BigInteger(), nullable=False),
    sa.Column('vat_minor', sa.BigInteger(), nullable=False),
    sa.Column('change_minor', sa.BigInteger(), nullable=False),
    sa.Column('void_reason', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['shift_id'], ['shifts.id'], name=op.f('fk_sales_shift_id_shifts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sales')),
    sa.UniqueConstraint('receipt_no', name=op.f('uq_sales_receipt_no'))
    )
    with op.batch_alter_table('sales', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sales_shift_id'), ['shift_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sales_status'), ['status'], unique=False)

    op.create_table('payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sale_id', sa.Uuid(), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('tendered_minor', sa.BigInteger(), nullable=True),
    sa.Column('reference', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['sale_id'], ['sales.id'], name=op.f('fk_payments_sale_id_sales')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payments'))
    )
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payments_sale_id'), ['sale_id'], unique=False)

    op.create_table('refunds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('return_id', sa.Uuid(), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['return_id'], ['returns.id'], name=op.f('fk_refunds_return_id_returns')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refunds'))
    )
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refunds_return_id'), ['return_id'], unique=False)

    op.create_table('return_lines',
    sa.Column('return_id', sa.Uuid(), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('original_line_no', sa.Integer(), nullable=True),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('quantity_milli', sa.BigInteger(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('vat_rate_bp', sa.Integer(), nullable=False),
    sa.Column('vat_minor', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['return_id'], ['returns.id'], name=op.f('fk_return_lines_return_id_returns')),
    sa.PrimaryKeyConstraint('return_id', 'line_no', name=op.f('pk_return_lines'))
    )
    op.create_table('sale_lines',
    sa.Column('sale_id', sa.Uuid(), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('quantity_milli', sa.BigInteger(), nullable=False),
    sa.Column('unit', sa.String(length=8), nullable=False),
    sa.Column('unit_price_minor', sa.BigInteger(), nullable=False),
    sa.Column('gross_minor', sa.BigInteger(), nullable=False),
    sa.Column('promotion_id', sa.Integer(), nullable=True),
    sa.Column('line_discount_bp', sa.Integer(), nullable=False),
    sa.Column('discount_minor', sa.BigInteger(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('vat_rate_bp', sa.Integer(), nullable=False),
    sa.Column('vat_minor', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_sale_lines_product_id_products')),
    sa.ForeignKeyConstraint(['sale_id'], ['sales.id'], name=op.f('fk_sale_lines_sale_id_sales')),
    sa.PrimaryKeyConstraint('sale_id', 'line_no', name=op.f('pk_sale_lines'))
    )
    # Name search at the till: an external-content FTS5 index over products, kept in step by
    # triggers; prefixes of 2 and 3 characters are indexed for type-ahead.
    op.execute("CREATE VIRTUAL TABLE products_fts USING fts5(name, sku, content='products', "
               "content_rowid='id', tokenize='unicode61 remove_diacritics 2', prefix='2 3')")
    op.execute("INSERT INTO products_fts(rowid, name, sku) SELECT id, name, sku FROM products")
    op.execute("CREATE TRIGGER products_fts_ai AFTER INSERT ON products BEGIN "
               "INSERT INTO products_fts(rowid, name, sku) VALUES (new.id, new.name, new.sku); END")
    op.execute("CREATE TRIGGER products_fts_ad AFTER DELETE ON products BEGIN "
               "INSERT INTO products_fts(products_fts, rowid, name, sku) "
               "VALUES ('delete', old.id, old.name, old.sku); END")
    op.execute("CREATE TRIGGER products_fts_au AFTER UPDATE ON products BEGIN "
               "INSERT INTO products_fts(products_fts, rowid, name, sku) "
               "VALUES ('delete', old.id, old.name, old.sku); "
               "INSERT INTO products_fts(rowid, name, sku) VALUES (new.id, new.name, new.sku); END")


def downgrade() -> None:
    for trigger in ("products_fts_ai", "products_fts_ad", "products_fts_au"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS products_fts")
    op.drop_table('sale_lines')
    op.drop_table('return_lines')
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refunds_return_id'))

    op.drop_table('refunds')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payments_sale_id'))

    op.drop_table('payments')
    with op.batch_alter_table('sales', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sales_status'))
        batch_op.drop_index(batch_op.f('ix_sales_shift_id'))

    op.drop_table('sales')
    with op.batch_alter_table('returns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_returns_shift_id'))
        batch_op.drop_index(batch_op.f('ix_returns_original_sale_id'))
        batch_op.drop_index(batch_op.f('ix_returns_original_receipt_no'))

    op.drop_table('returns')
    with op.batch_alter_table('product_barcodes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_product_barcodes_product_id'))

    op.drop_table('product_barcodes')
    with op.batch_alter_table('cash_movements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cash_movements_shift_id'))

    op.drop_table('cash_movements')
    op.drop_table('users')
    op.drop_table('stores')
    with op.batch_alter_table('shifts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shifts_status'))

    op.drop_table('shifts')
    op.drop_table('role_limits')
    op.drop_table('promotions')
    op.drop_table('products')
    with op.batch_alter_table('prices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_prices_product_id'))

    op.drop_table('prices')
    op.drop_table('pin_failures')
    op.drop_table('overrides')
    with op.batch_alter_table('outbox_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_events_acked_at'))

    op.drop_table('outbox_events')
    op.drop_table('node_identity')
    op.drop_table('customers')
    op.drop_table('counters')

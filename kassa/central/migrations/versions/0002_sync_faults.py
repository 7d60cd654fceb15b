"""sync: quarantine, nonces, node status, business days, feed scope

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 02:10:08.675205
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import kassa.common.db

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('business_days',
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('closed_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_by_id', sa.Integer(), nullable=True),
    sa.Column('unsynced_nodes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['closed_by_id'], ['users.id'], name=op.f('fk_business_days_closed_by_id_users')),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_business_days_store_id_stores')),
    sa.PrimaryKeyConstraint('store_id', 'day', name=op.f('pk_business_days'))
    )
    op.create_table('node_day_totals',
    sa.Column('node_id', sa.String(length=32), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('sales_count', sa.Integer(), nullable=False),
    sa.Column('sales_minor', sa.BigInteger(), nullable=False),
    sa.Column('returns_count', sa.Integer(), nullable=False),
    sa.Column('returns_minor', sa.BigInteger(), nullable=False),
    sa.Column('reported_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['node_id'], ['nodes.id'], name=op.f('fk_node_day_totals_node_id_nodes')),
    sa.PrimaryKeyConstraint('node_id', 'day', name=op.f('pk_node_day_totals'))
    )
    op.create_table('node_nonces',
    sa.Column('node_id', sa.String(length=32), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('seen_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['node_id'], ['nodes.id'], name=op.f('fk_node_nonces_node_id_nodes')),
    sa.PrimaryKeyConstraint('node_id', 'nonce', name=op.f('pk_node_nonces'))
    )
    with op.batch_alter_table('node_nonces', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_node_nonces_seen_at'), ['seen_at'], unique=False)

    op.create_table('quarantined_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('node_id', sa.String(length=32), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('event_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('occurred_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('refs', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('depends_on_seq', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('quarantined_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', kassa.common.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.String(length=64), nullable=True),
    sa.Column('resolution_note', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['node_id'], ['nodes.id'], name=op.f('fk_quarantined_events_node_id_nodes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quarantined_events')),
    sa.UniqueConstraint('event_id', name=op.f('uq_quarantined_events_event_id')),
    sa.UniqueConstraint('node_id', 'seq', name=op.f('uq_quarantined_events_node_id'))
    )
    with op.batch_alter_table('quarantined_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quarantined_events_node_id'), ['node_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_quarantined_events_status'), ['status'], unique=False)

    with op.batch_alter_table('change_feed', schema=None) as batch_op:
        batch_op.add_column(sa.Column('store_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('region_id', sa.Integer(), nullable=True))

    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('previous_public_key_pem', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('previous_key_until', kassa.common.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('revoked_at', kassa.common.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reported_at', kassa.common.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('node_seq', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('queue_depth', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('oldest_pending_at', kassa.common.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('feed_cursor', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('last_refusal', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('last_refused_at', kassa.common.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('clock_skew_seconds', sa.Integer(), nullable=True))

    with op.batch_alter_table('sales', schema=None) as batch_op:
        batch_op.add_column(sa.Column('late_reason', sa.String(length=32), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('sales', schema=None) as batch_op:
        batch_op.drop_column('late_reason')

    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.drop_column('clock_skew_seconds')
        batch_op.drop_column('last_refused_at')
        batch_op.drop_column('last_refusal')
        batch_op.drop_column('feed_cursor')
        batch_op.drop_column('oldest_pending_at')
        batch_op.drop_column('queue_depth')
        batch_op.drop_column('node_seq')
        batch_op.drop_column('reported_at')
        batch_op.drop_column('revoked_at')
        batch_op.drop_column('previous_key_until')
        batch_op.drop_column('previous_public_key_pem')

    with op.batch_alter_table('change_feed', schema=None) as batch_op:
        batch_op.drop_column('region_id')
        batch_op.drop_column('store_id')

    with op.batch_alter_table('quarantined_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quarantined_events_status'))
        batch_op.drop_index(batch_op.f('ix_quarantined_events_node_id'))

    op.drop_table('quarantined_events')
    with op.batch_alter_table('node_nonces', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_node_nonces_seen_at'))

    op.drop_table('node_nonces')
    op.drop_table('node_day_totals')
    op.drop_table('business_days')

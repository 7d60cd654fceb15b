"""fraud alerts: points a till claimed that central did not post as claimed

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-09 10:00:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import kassa.common.db

revision = '0033'
down_revision = '0032'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('fraud_alerts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('node_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('event_kind', sa.String(length=64), nullable=False),
    sa.Column('document_id', sa.Uuid(), nullable=False),
    sa.Column('document_no', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=True),
    sa.Column('claimed', sa.BigInteger(), nullable=False),
    sa.Column('posted', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('occurred_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('raised_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('resolved_at', kassa.common.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_by_id', sa.Integer(), nullable=True),
    sa.Column('resolution_note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['node_id'], ['nodes.id'], name=op.f('fk_fraud_alerts_node_id_nodes')),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['users.id'], name=op.f('fk_fraud_alerts_resolved_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fraud_alerts'))
    )
    with op.batch_alter_table('fraud_alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fraud_alerts_document_id'), ['document_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fraud_alerts_node_id'), ['node_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fraud_alerts_status'), ['status'], unique=False)


def downgrade() -> None:
    op.drop_table('fraud_alerts')

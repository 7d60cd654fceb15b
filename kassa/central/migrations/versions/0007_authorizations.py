"""authorizations: policies, requests from tills and their decisions

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 05:55:59.905009
"""
import sqlalchemy as sa
from alembic import op

import kassa.common.db

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('authorization_policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=True),
    sa.Column('auto_approve_max', sa.BigInteger(), nullable=True),
    sa.Column('decline_over', sa.BigInteger(), nullable=True),
    sa.Column('escalate_after_s', sa.Integer(), nullable=False),
    sa.Column('expire_after_s', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_authorization_policies_store_id_stores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_authorization_policies')),
    sa.UniqueConstraint('kind', 'store_id', name=op.f('uq_authorization_policies_kind'))
    )
    op.create_table('authorizations',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('node_id', sa.String(length=32), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('cashier_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('policy', sa.String(length=64), nullable=False),
    sa.Column('level', sa.String(length=32), nullable=True),
    sa.Column('requested_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('escalate_at', kassa.common.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('expires_at', kassa.common.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_at', kassa.common.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['cashier_id'], ['users.id'], name=op.f('fk_authorizations_cashier_id_users')),
    sa.ForeignKeyConstraint(['decided_by'], ['users.id'], name=op.f('fk_authorizations_decided_by_users')),
    sa.ForeignKeyConstraint(['node_id'], ['nodes.id'], name=op.f('fk_authorizations_node_id_nodes')),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_authorizations_store_id_stores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_authorizations'))
    )
    with op.batch_alter_table('authorizations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_authorizations_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_authorizations_node_id'), ['node_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_authorizations_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_authorizations_store_id'), ['store_id'], unique=False)

    with op.batch_alter_table('returns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('authorization_id', sa.Uuid(), nullable=True))

    with op.batch_alter_table('sales', schema=None) as batch_op:
        batch_op.add_column(sa.Column('authorization_id', sa.Uuid(), nullable=True))


def downgrade() -> None:
    op.drop_column('sales', 'authorization_id')
    op.drop_column('returns', 'authorization_id')
    with op.batch_alter_table('authorizations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_authorizations_store_id'))
        batch_op.drop_index(batch_op.f('ix_authorizations_status'))
        batch_op.drop_index(batch_op.f('ix_authorizations_node_id'))
        batch_op.drop_index(batch_op.f('ix_authorizations_expires_at'))

    op.drop_table('authorizations')
    op.drop_table('authorization_policies')

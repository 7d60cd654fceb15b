"""central authorizations: central's answers kept by the till, their ids on sales and returns

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 06:02:14.010136
"""
import sqlalchemy as sa
from alembic import op

import kassa.common.db

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('central_authorizations',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('policy', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('requested_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', kassa.common.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_central_authorizations'))
    )
    with op.batch_alter_table('returns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('authorization_id', sa.Uuid(), nullable=True))

    with op.batch_alter_table('sales', schema=None) as batch_op:
        batch_op.add_column(sa.Column('authorization_id', sa.Uuid(), nullable=True))


def downgrade() -> None:
    op.drop_column('sales', 'authorization_id')
    op.drop_column('returns', 'authorization_id')
    op.drop_table('central_authorizations')

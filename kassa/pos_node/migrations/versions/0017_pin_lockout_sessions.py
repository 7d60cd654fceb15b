"""wrong PINs counted by user name (known or not), and the till's sessions kept on the till

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-09 10:00:00

The counts of wrong PINs in progress are dropped (at worst a user gets their five tries again).
Sessions signed in before this have no row and end: cashiers sign in once more.
"""
import sqlalchemy as sa
from alembic import op

import kassa.common.db

revision = '0017'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table('pin_failures')
    op.create_table('pin_failures',
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('locked_until', kassa.common.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('username', name=op.f('pk_pin_failures'))
    )
    op.create_table('till_sessions',
    sa.Column('id_sha256', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id_sha256', name=op.f('pk_till_sessions'))
    )


def downgrade() -> None:
    op.drop_table('till_sessions')
    op.drop_table('pin_failures')
    op.create_table('pin_failures',
    sa.Column('user_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('locked_until', kassa.common.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_pin_failures'))
    )

"""sign-in lockouts per user name and client, server-side web sessions, sign-in codes erased
from the mail outbox once sent

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-09 10:00:00

A user's lockout moves from their row (one lock for everyone) to ``sign_in_failures`` (one per
user name and client); the counts in progress are dropped: at worst a client gets its five
tries again. Sessions signed in before this have no row and end: people sign in once more.
"""
import sqlalchemy as sa
from alembic import op

import kassa.common.db

revision = '0034'
down_revision = '0033'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sign_in_failures',
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('client_hash', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('locked_until', kassa.common.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('username', 'client_hash', name=op.f('pk_sign_in_failures'))
    )
    with op.batch_alter_table('sign_in_failures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sign_in_failures_last_at'), ['last_at'],
                              unique=False)
    op.create_table('web_sessions',
    sa.Column('id_sha256', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                            name=op.f('fk_web_sessions_user_id_users')),
    sa.PrimaryKeyConstraint('id_sha256', name=op.f('pk_web_sessions'))
    )
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_sessions_expires_at'), ['expires_at'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_web_sessions_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('failed_sign_ins')
        batch_op.drop_column('locked_until')
    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erase_after_send', sa.Boolean(),
                                      server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.drop_column('erase_after_send')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locked_until', kassa.common.db.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('failed_sign_ins', sa.Integer(), server_default='0',
                                      nullable=False))
    op.drop_table('web_sessions')
    op.drop_table('sign_in_failures')

"""sign-in: lockout and password age of users, API tokens

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 06:26:34.827940
"""
import sqlalchemy as sa
from alembic import op

import kassa.common.db

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('secret_sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', kassa.common.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', kassa.common.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_sign_ins', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('locked_until', kassa.common.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('password_changed_at', kassa.common.db.UTCDateTime(timezone=True), nullable=True))



def downgrade() -> None:
    op.drop_column('users', 'password_changed_at')
    op.drop_column('users', 'locked_until')
    op.drop_column('users', 'failed_sign_ins')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_user_id'))
    op.drop_table('api_tokens')

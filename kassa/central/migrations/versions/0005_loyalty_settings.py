"""loyalty rules and accounts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 03:59:38.961255
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import kassa.common.db

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('loyalty_settings',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('document', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('updated_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loyalty_settings'))
    )


def downgrade() -> None:
    op.drop_table('loyalty_settings')

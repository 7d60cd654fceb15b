"""every version of the loyalty rules kept, with when and by whom

Revision ID: 0030
Revises: 0028
Create Date: 2026-12-07 19:10:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import kassa.common.db

revision = '0030'
down_revision = '0028'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('loyalty_rules_versions',
    sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('document', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('changed_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('changed_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['changed_by_id'], ['users.id'], name=op.f('fk_loyalty_rules_versions_changed_by_id_users')),
    sa.PrimaryKeyConstraint('version', name=op.f('pk_loyalty_rules_versions'))
    )
    # The rules set before versions were counted are version 0 (their documents say none).
    op.execute("INSERT INTO loyalty_rules_versions (version, document, changed_at) "
               "SELECT 0, document, updated_at FROM loyalty_settings WHERE id = 1")


def downgrade() -> None:
    op.drop_table('loyalty_rules_versions')

"""a sale keeps the loyalty rules' version it earned under, for central to check its points

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-09 10:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sales', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rules_version', sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column('sales', 'rules_version')

"""the fiscal register's attributes of sales and returns as the tills report them (document
number, fiscal sign, fiscal drive), and where a customer asked their receipt to be e-mailed

Revision ID: 0036
Revises: 0034
Create Date: 2026-12-08 10:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0036'
down_revision = '0034'
branch_labels = None
depends_on = None

_FISCAL = ('fiscal_document_number', 'fiscal_sign', 'fiscal_drive_number')


def _fiscal_columns() -> list[sa.Column]:
    return [sa.Column('fiscal_document_number', sa.BigInteger(), nullable=True),
            sa.Column('fiscal_sign', sa.String(length=20), nullable=True),
            sa.Column('fiscal_drive_number', sa.String(length=20), nullable=True)]


def upgrade() -> None:
    with op.batch_alter_table('sales', schema=None) as batch_op:
        for column in _fiscal_columns():
            batch_op.add_column(column)
        batch_op.add_column(sa.Column('receipt_email', sa.String(length=200), nullable=True))
    with op.batch_alter_table('returns', schema=None) as batch_op:
        for column in _fiscal_columns():
            batch_op.add_column(column)


def downgrade() -> None:
    with op.batch_alter_table('returns', schema=None) as batch_op:
        for name in reversed(_FISCAL):
            batch_op.drop_column(name)
    with op.batch_alter_table('sales', schema=None) as batch_op:
        batch_op.drop_column('receipt_email')
        for name in reversed(_FISCAL):
            batch_op.drop_column(name)

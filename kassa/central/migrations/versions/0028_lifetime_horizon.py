"""a customer's expected purchases over the analysis run's horizon, not a fixed 90 days

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 17:20:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('customer_scores') as batch_op:
        batch_op.alter_column('expected_purchases_90d', new_column_name='expected_purchases',
                              existing_type=sa.Float())
        batch_op.add_column(sa.Column('horizon_days', sa.Integer(), nullable=True))
    # The scores so far were all for 90 days.
    op.execute("UPDATE customer_scores SET horizon_days = 90 "
               "WHERE expected_purchases IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('customer_scores') as batch_op:
        batch_op.drop_column('horizon_days')
        batch_op.alter_column('expected_purchases', new_column_name='expected_purchases_90d',
                              existing_type=sa.Float())

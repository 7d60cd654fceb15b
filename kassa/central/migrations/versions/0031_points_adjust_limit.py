"""the points a role may add to or take from a customer's account at a time

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-08 10:00:00

Roles that had limits get the defaults of ``kassa.central.access.people.POINTS_ADJUST``
(written out here: a migration does not change when the code does).
"""
import sqlalchemy as sa
from alembic import op

revision = '0031'
down_revision = '0030'
branch_labels = None
depends_on = None

DEFAULTS = {"store_manager": 1000, "regional_manager": 5000, "central_office": 20000,
            "admin": 20000}


def upgrade() -> None:
    with op.batch_alter_table('role_limits') as batch_op:
        batch_op.add_column(sa.Column('max_points_adjust', sa.BigInteger(), server_default='0',
                                      nullable=False))
    for role, points in DEFAULTS.items():
        op.execute(sa.text("UPDATE role_limits SET max_points_adjust = :points "
                           "WHERE role = :role").bindparams(points=points, role=role))


def downgrade() -> None:
    with op.batch_alter_table('role_limits') as batch_op:
        batch_op.drop_column('max_points_adjust')

"""the seller's details on quotes and invoices: master data (one row), not the environment

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-27 11:40:00
"""
import os

import sqlalchemy as sa
from alembic import op

FIELDS = ("name", "inn", "kpp", "address", "bank", "bic", "account")

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('company',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('inn', sa.String(length=12), nullable=False),
    sa.Column('kpp', sa.String(length=9), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=False),
    sa.Column('bank', sa.String(length=200), nullable=False),
    sa.Column('bic', sa.String(length=9), nullable=False),
    sa.Column('account', sa.String(length=20), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_company'))
    )
    # An installation that set its details in the environment (before this revision) keeps
    # issuing invoices with them; a new one sets them through the API.
    old = {f: os.environ.get(f"KASSA_COMPANY_{f.upper()}") for f in FIELDS}
    if all(old[f] for f in FIELDS if f != "kpp"):
        op.bulk_insert(sa.table("company", *(sa.column(c) for c in ("id", *FIELDS))),
                       [{"id": 1, **{f: old[f] or "" for f in FIELDS}}])


def downgrade() -> None:
    op.drop_table('company')

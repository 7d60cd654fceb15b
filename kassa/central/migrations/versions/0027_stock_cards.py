"""cards in a store's stock: no account until a till gives one to a new member; printed cards

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 17:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cards') as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=8), server_default='chip',
                                      nullable=False))
        batch_op.add_column(sa.Column('store_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('assigned_by_node', sa.String(length=64), nullable=True))
        batch_op.alter_column('account_id', existing_type=sa.Uuid(), nullable=True)
        batch_op.alter_column('issuer_key_id', existing_type=sa.Integer(), nullable=True)
        batch_op.create_foreign_key(batch_op.f('fk_cards_store_id_stores'), 'stores',
                                    ['store_id'], ['id'])


def downgrade() -> None:
    op.execute("DELETE FROM cards WHERE account_id IS NULL OR issuer_key_id IS NULL")
    with op.batch_alter_table('cards') as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_cards_store_id_stores'), type_='foreignkey')
        batch_op.alter_column('issuer_key_id', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('account_id', existing_type=sa.Uuid(), nullable=False)
        batch_op.drop_column('assigned_by_node')
        batch_op.drop_column('store_id')
        batch_op.drop_column('kind')

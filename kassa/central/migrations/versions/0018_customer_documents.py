"""customer documents, addresses

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-27 09:28:44.431422
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import kassa.common.db

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('customer_documents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('items', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('total_minor', sa.BigInteger(), nullable=False),
    sa.Column('issued_at', kassa.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('issued_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_documents_customer_id_customers')),
    sa.ForeignKeyConstraint(['issued_by_id'], ['users.id'], name=op.f('fk_customer_documents_issued_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_documents'))
    )
    with op.batch_alter_table('customer_documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_documents_customer_id'), ['customer_id'], unique=False)

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('address', sa.String(length=300), nullable=True))



def downgrade() -> None:
    op.drop_column('customers', 'address')  # native: customers is referenced

    with op.batch_alter_table('customer_documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_documents_customer_id'))

    op.drop_table('customer_documents')

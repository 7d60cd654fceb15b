"""what a receipt a customer keeps prints: the store's address, the points after the sale;
products' names in other languages, shown in the store's and all found by the name search

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-07 19:40:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# The name search's index gains the other languages' names (external content: the columns
# of products it reads are named here and in its triggers).
_FTS = ("CREATE VIRTUAL TABLE products_fts USING fts5({columns}, content='products', "
        "content_rowid='id', tokenize='unicode61 remove_diacritics 2', prefix='2 3')")
_TRIGGERS = ("products_fts_ai", "products_fts_ad", "products_fts_au")


def _index(columns: tuple[str, ...]) -> None:
    names = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    for trigger in _TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS products_fts")
    op.execute(_FTS.format(columns=names))
    op.execute("INSERT INTO products_fts(products_fts) VALUES ('rebuild')")
    op.execute(f"CREATE TRIGGER products_fts_ai AFTER INSERT ON products BEGIN "
               f"INSERT INTO products_fts(rowid, {names}) VALUES (new.id, {new}); END")
    op.execute(f"CREATE TRIGGER products_fts_ad AFTER DELETE ON products BEGIN "
               f"INSERT INTO products_fts(products_fts, rowid, {names}) "
               f"VALUES ('delete', old.id, {old}); END")
    op.execute(f"CREATE TRIGGER products_fts_au AFTER UPDATE ON products BEGIN "
               f"INSERT INTO products_fts(products_fts, rowid, {names}) "
               f"VALUES ('delete', old.id, {old}); "
               f"INSERT INTO products_fts(rowid, {names}) VALUES (new.id, {new}); END")

revision = '0014'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('stores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('address', sa.String(length=300), server_default='',
                                      nullable=False))
    with op.batch_alter_table('sales', schema=None) as batch_op:
        batch_op.add_column(sa.Column('points_balance_after', sa.BigInteger(), nullable=True))
    op.add_column('products', sa.Column('names', sa.JSON().with_variant(
        postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))
    op.add_column('products', sa.Column('other_names', sa.Text(), server_default='',
                                        nullable=False))
    _index(("name", "sku", "other_names"))


def downgrade() -> None:
    _index(("name", "sku"))
    op.drop_column('products', 'other_names')
    op.drop_column('products', 'names')
    op.drop_column('sales', 'points_balance_after')
    op.drop_column('stores', 'address')

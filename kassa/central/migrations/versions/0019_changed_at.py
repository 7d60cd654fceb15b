"""rows the warehouse reads keep the time they last changed (a default and a trigger)

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-27 11:00:00
"""
import sqlalchemy as sa
from alembic import op

from kassa.common.db import UTCDateTime

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

# The tables the warehouse loads incrementally (kassa.central.warehouse.refresh).
TABLES = ("sales", "returns", "customers", "loyalty_accounts", "loyalty_entries", "interactions")
# SQLite: the text SQLAlchemy writes and compares for a DateTime ('2026-11-27 10:50:00.123000');
# CURRENT_TIMESTAMP's shorter text would sort before an equal bound value and break paging.
SQLITE_NOW = "strftime('%Y-%m-%d %H:%M:%f000', 'now')"


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("""
            CREATE OR REPLACE FUNCTION kassa_touch_changed_at() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
              NEW.changed_at := now();
              RETURN NEW;
            END $$""")
    for table in TABLES:
        # SQLite adds a column only with a constant default: rows get their time from a
        # trigger there, on insert as on update.
        default = sa.func.current_timestamp() if postgres else sa.text("'1970-01-01 00:00:00.000000'")
        op.add_column(table, sa.Column("changed_at", UTCDateTime(), nullable=False,
                                       server_default=default))
        op.create_index(f"ix_{table}_changed_at", table, ["changed_at"])
        if postgres:
            op.execute(f"CREATE TRIGGER {table}_changed_at BEFORE UPDATE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION kassa_touch_changed_at()")
            continue
        op.execute(f"UPDATE {table} SET changed_at = {SQLITE_NOW}")
        op.execute(f"CREATE TRIGGER {table}_changed_at_insert AFTER INSERT ON {table} "
                   f"FOR EACH ROW BEGIN UPDATE {table} SET changed_at = {SQLITE_NOW} "
                   "WHERE rowid = NEW.rowid; END")
        # The WHEN clause stops the trigger's own update from touching the row again.
        op.execute(f"CREATE TRIGGER {table}_changed_at AFTER UPDATE ON {table} "
                   "FOR EACH ROW WHEN NEW.changed_at IS OLD.changed_at BEGIN "
                   f"UPDATE {table} SET changed_at = {SQLITE_NOW} "
                   "WHERE rowid = NEW.rowid; END")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in TABLES:
        if postgres:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_changed_at ON {table}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_changed_at")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_changed_at_insert")
        op.drop_index(f"ix_{table}_changed_at", table_name=table)
        op.drop_column(table, "changed_at")
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS kassa_touch_changed_at()")

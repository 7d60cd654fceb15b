"""row-level security by region on PostgreSQL (kassa.central.region_wall)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 09:00:00

The role ``kassa_regional`` is created when missing (the migrating user needs CREATEROLE
then; otherwise a DBA creates it first and grants it to the application's user).
"""
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

IN_REGION = "SELECT s.id FROM stores s WHERE s.region_id = kassa_region()"
POLICIES = {
    # table: [(name, command, USING, WITH CHECK)]
    "stores": [("region_read", "SELECT", "region_id = kassa_region()", None),
               ("region_write", "UPDATE", "region_id = kassa_region()",
                "region_id = kassa_region()")],
    "nodes": [("region_read", "SELECT", f"store_id IN ({IN_REGION})", None)],
    "sales": [("region_read", "SELECT", f"store_id IN ({IN_REGION})", None)],
    "returns": [("region_read", "SELECT", f"store_id IN ({IN_REGION})", None)],
    "prices": [
        ("region_read", "SELECT", f"(store_id IS NULL OR store_id IN ({IN_REGION})) AND "
                                  "(region_id IS NULL OR region_id = kassa_region())", None),
        ("region_insert", "INSERT", None,
         f"store_id IN ({IN_REGION}) OR region_id = kassa_region()"),
        ("region_update", "UPDATE", f"store_id IN ({IN_REGION}) OR region_id = kassa_region()",
         f"store_id IN ({IN_REGION}) OR region_id = kassa_region()"),
        ("region_delete", "DELETE", f"store_id IN ({IN_REGION}) OR region_id = kassa_region()",
         None)],
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kassa_regional') THEN
            CREATE ROLE kassa_regional NOLOGIN;
          END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;  -- created meanwhile
        END $$""")
    op.execute("""
        DO $$ BEGIN
          IF NOT pg_has_role(current_user, 'kassa_regional', 'MEMBER') THEN
            EXECUTE format('GRANT kassa_regional TO %I', current_user);
          END IF;
        END $$""")
    op.execute("GRANT USAGE ON SCHEMA public TO kassa_regional")
    op.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public "
               "TO kassa_regional")
    op.execute("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO kassa_regional")
    op.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE "
               "ON TABLES TO kassa_regional")
    op.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES "
               "TO kassa_regional")
    op.execute("""
        CREATE OR REPLACE FUNCTION kassa_region() RETURNS integer LANGUAGE sql STABLE AS
        $$ SELECT NULLIF(current_setting('kassa.region_id', true), '')::integer $$""")
    for table, policies in POLICIES.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        for name, command, using, check in policies:
            clauses = (f" USING ({using})" if using else "") + (
                f" WITH CHECK ({check})" if check else "")
            op.execute(f"CREATE POLICY {name} ON {table} FOR {command} TO kassa_regional"
                       f"{clauses}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, policies in POLICIES.items():
        for name, *_rest in policies:
            op.execute(f"DROP POLICY IF EXISTS {name} ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute("DROP FUNCTION IF EXISTS kassa_region()")
    op.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES "
               "FROM kassa_regional")
    op.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES "
               "FROM kassa_regional")
    op.execute("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM kassa_regional")
    op.execute("REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM kassa_regional")
    op.execute("REVOKE USAGE ON SCHEMA public FROM kassa_regional")

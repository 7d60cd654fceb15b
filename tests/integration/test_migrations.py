"""The Alembic chains and the models describe the same schema, on every engine we run on."""

import warnings

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from kassa.central import models as central_models
from kassa.common.db import Database
from kassa.common.storage.migrate import alembic_config, skipping, upgrade
from kassa.pos_node import models as node_models


def _diff(url, models):
    db = Database(url)
    try:
        with db.engine.connect() as conn, warnings.catch_warnings():
            # SQLite's reflection skips expression indexes (the prices' slot index); the test
            # below checks that one by what it refuses.
            warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression")
            warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified")
            unmodelled = getattr(models, "UNMODELLED_TABLES", ())
            ctx = MigrationContext.configure(conn, opts={"compare_type": True,
                                                         "include_name": skipping(unmodelled)})
            return compare_metadata(ctx, models.Base.metadata)
    finally:
        db.dispose()


def test_central_models_match_migrations(central_db_url):
    assert _diff(central_db_url, central_models) == []


def test_node_models_match_migrations(node_db_url):
    assert _diff(node_db_url, node_models) == []


def test_central_chain_goes_down_to_base_and_back_up(central_db_url):
    command.downgrade(alembic_config(central_models.MIGRATIONS, central_db_url), "base")
    upgrade(central_models.MIGRATIONS, central_db_url)
    assert _diff(central_db_url, central_models) == []


def test_node_chain_goes_down_to_base_and_back_up(node_db_url):
    command.downgrade(alembic_config(node_models.MIGRATIONS, node_db_url), "base")
    upgrade(node_models.MIGRATIONS, node_db_url)
    assert _diff(node_db_url, node_models) == []


def test_node_name_search_index_follows_the_products_table(node_db_url):
    from sqlalchemy import text
    db = Database(node_db_url)
    try:
        with db.transaction() as s:
            s.execute(text("INSERT INTO products (id, sku, name, vat_rate_bp, unit, active) "
                           "VALUES (1, 'A1', 'Chocolate milk', 1000, 'pcs', 1)"))
            s.execute(text("UPDATE products SET name = 'Oat drink' WHERE id = 1"))
        with db.transaction() as s:
            hits = lambda q: s.execute(text(  # noqa: E731
                "SELECT rowid FROM products_fts WHERE products_fts MATCH :q"), {"q": q}).all()
            assert hits('"choc"*') == []
            assert hits('"oat"*') == [(1,)]
    finally:
        db.dispose()


def test_one_price_per_product_scope_and_start(central_db_url):
    """The slot index treats NULL scopes and starts as equal, on both engines."""
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError
    db = Database(central_db_url)
    insert = text("INSERT INTO prices (product_id, store_id, region_id, effective_from, "
                  "amount_minor) VALUES (900001, NULL, NULL, NULL, :amount)")
    try:
        with db.transaction() as s:
            s.execute(text("INSERT INTO products (id, sku, name, vat_rate_bp, unit, active) "
                           "VALUES (900001, 'SLOT-TEST', 'Milk', 1000, 'pcs', true)"))
            s.execute(insert, {"amount": 100})
        with pytest.raises(IntegrityError), db.transaction() as s:
            s.execute(insert, {"amount": 200})
    finally:
        db.dispose()


def test_a_till_served_after_an_upgrade_brings_its_database_to_head(tmp_path):
    """The till's database is migrated when the upgraded kassa starts serving it."""
    import sqlite3
    import sys

    from alembic.script import ScriptDirectory

    from kassa.common.runtime.processes import Supervisor
    from tests.helpers import free_port
    db = tmp_path / "pos.sqlite"
    # as a till of an older kassa left it
    upgrade(node_models.MIGRATIONS, f"sqlite:///{db}", "0009")
    sup, port = Supervisor(tmp_path / "logs"), free_port()
    try:
        sup.start("pos", [sys.executable, "-m", "kassa.cli", "pos", "serve", "--port", str(port)],
                  {"KASSA_NODE_DB": str(db), "KASSA_SYNC_INTERVAL": "0"})
        sup.wait_http("pos", f"http://127.0.0.1:{port}/health")
    finally:
        sup.stop_all()
    with sqlite3.connect(db) as conn:
        (version,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert version == ScriptDirectory.from_config(
        alembic_config(node_models.MIGRATIONS, f"sqlite:///{db}")).get_current_head()

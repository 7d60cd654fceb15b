"""The warehouse loaded from central on SQLite and PostgreSQL, with sales from two real tills:
an incremental refresh loads only what changed, twice changes nothing, follows a post-void, a
return and a tier change (a new customer version), survives a rebuild with its history, and
exports Hive-partitioned Parquet that plain DuckDB reads; the managers' sales report gives the
same figures from the warehouse as live from central."""

from datetime import datetime, timedelta, timezone

import duckdb
import pytest
from sqlalchemy import select, update

from kassa.central import create_app
from kassa.central.crm import data_rights, profiles
from kassa.central.models import MIGRATIONS, Customer, LoyaltyAccount, LoyaltyEntry, User
from kassa.central.reporting import history_import
from kassa.central.reporting.warehouse import export, load, schema
from kassa.common.config import CentralConfig
from kassa.common.db import Database, utcnow
from kassa.common.storage.migrate import upgrade
from kassa.pos_node.replication.client import sync_now
from tests.helpers import staff_auth as who
from tests.integration.test_till_workflow import manager


def sell(till, sku, quantity, amount, card=None):
    till.post("/api/v1/cart/lines", json={"sku": sku, "quantity": quantity})
    if card:
        assert till.post("/api/v1/cart/customer", json={"card_number": card}).status_code == 200
    sale = till.post("/api/v1/cart/checkout", json={"payments": [
        {"method": "cash", "amount": amount}]})
    assert sale.status_code == 201, sale.json
    return sale.json


def facts(path, sql):
    with schema.connect(path, read_only=True) as con:
        return con.execute(sql).fetchall()


def test_refresh_is_incremental_idempotent_and_follows_changes(central_db, tills, tmp_path,
                                                               demo_secrets):
    pins = {u: v["pin"] for u, v in demo_secrets["users"].items() if v["pin"]}
    pos1, db1 = tills["pos-1"]
    pos2, db2 = tills["pos-2"]
    first = sell(pos1, "1001", 2, 17980, card="7770000000000001")
    second = sell(pos1, "3001", 1, 149000)
    sell(pos2, "1002", 1, 5490, card="7770000000000003")
    sync_now(db1), sync_now(db2)
    path = tmp_path / "wh.duckdb"

    loaded = load.refresh(central_db, path)
    assert loaded["sales"] == 3 and loaded["customer_versions"] >= 2
    by_region = facts(path, "SELECT region_code, count(DISTINCT sale_id), sum(amount_minor) "
                            "FROM fact_sale_line JOIN dim_store USING (store_id) "
                            "GROUP BY ALL ORDER BY 1")
    assert by_region == [("MSK", 2, 17980 + 149000), ("SPB", 1, 5490)]
    # The sale with a card points at its customer's current version.
    assert facts(path, "SELECT count(*) FROM fact_sale_line f JOIN dim_customer d "
                       "USING (customer_key) WHERE d.is_current")[0][0] == 2

    # Nothing changed: the run only re-reads its lookback window and the facts stay the same.
    again = load.refresh(central_db, path)
    assert again["customer_versions"] == 0
    assert facts(path, "SELECT count(*), sum(amount_minor) FROM fact_sale_line") == [
        (3, 17980 + 149000 + 5490)]

    # A return and a post-void at the till, a tier upgrade at central: all reach the warehouse.
    assert pos1.post("/api/v1/returns", json={"receipt_no": first["receipt_no"], "lines": [
        {"line_no": 1, "quantity": 1}]}).status_code == 201
    assert pos1.post(f"/api/v1/sales/{second['id']}/post-void", json={
        "reason": "wrong customer", "override": manager(pins)}).status_code == 200
    sync_now(db1)
    with central_db.transaction() as s:
        s.execute(update(LoyaltyAccount).values(tier="gold"))
    load.refresh(central_db, path)
    assert facts(path, "SELECT count(*), sum(amount_minor) FROM fact_return_line") == [
        (1, 8990)]
    assert facts(path, "SELECT status FROM fact_sale_line WHERE sale_id = '%s'"
                 % second["id"]) == [("post_voided",)]
    tiers = facts(path, "SELECT tier, is_current, valid_to IS NULL FROM dim_customer "
                        "WHERE customer_id = (SELECT customer_id FROM fact_sale_line "
                        "WHERE receipt_no = '%s') ORDER BY valid_from, is_current"
                  % first["receipt_no"])
    assert [t[:2] for t in tiers][-1] == ("gold", True) and len(tiers) == 2
    assert tiers[0][1:] == (False, False)  # the old version closed

    # A rebuild gives the same facts and keeps the customer's history.
    load.rebuild(central_db, path)
    assert facts(path, "SELECT count(*), sum(amount_minor) FROM fact_sale_line") == [
        (3, 17980 + 149000 + 5490)]
    assert len(facts(path, "SELECT * FROM dim_customer WHERE customer_id = (SELECT customer_id "
                           "FROM fact_sale_line WHERE receipt_no = '%s')"
                     % first["receipt_no"])) == 2
    assert facts(path, "SELECT count(*) FROM dim_date WHERE date = current_date")[0][0] == 1


def test_history_from_the_warehouse_agrees_with_live_and_exports(central_db_url, central_db,
                                                                   tills, tmp_path, seeded):
    pos1, db1 = tills["pos-1"]
    pos2, db2 = tills["pos-2"]
    first = sell(pos1, "1001", 2, 17980, card="7770000000000001")
    sell(pos1, "3001", 1, 149000)
    sell(pos2, "1002", 1, 5490, card="7770000000000003")
    assert pos1.post("/api/v1/returns", json={"receipt_no": first["receipt_no"], "lines": [
        {"line_no": 1, "quantity": 1}]}).status_code == 201
    sync_now(db1), sync_now(db2)
    path = tmp_path / "wh.duckdb"
    load.refresh(central_db, path)

    app = create_app(CentralConfig(db_url=central_db_url, clock_skew_seconds=300,
                                   warehouse_path=path))
    api = app.test_client()
    for reader in ("office", "rm-spb"):
        headers = who(seeded, reader)
        for group in ("region", "store", "day", "hour", "cashier"):
            live, stored = (api.get(f"/api/v1/reports/sales?group={group}&source={source}",
                                    headers=headers).json for source in ("live", "warehouse"))
            assert (live.pop("source"), stored.pop("source")) == ("live", "warehouse")
            assert stored == live and live["rows"], (reader, group)
    # Today is not history: asked as usual, the report is live.
    assert api.get("/api/v1/reports/sales", headers=who(seeded, "office")).json[
        "source"] == "live"
    app.extensions["kassa_db"].dispose()

    out = tmp_path / "parquet"
    written = export.export(path, out)
    assert written["fact_sale_line"] == 3
    parts = sorted(p.relative_to(out).parts[:3] for p in (out / "fact_sale_line").rglob(
        "*.parquet"))
    assert {p[1] for p in parts} == {f"month={datetime.now(timezone.utc):%Y-%m}"}
    assert {p[2] for p in parts} == {"region=MSK", "region=SPB"}
    plain = duckdb.connect()
    rows = plain.execute(
        f"SELECT region, count(DISTINCT sale_id), sum(amount_minor) FROM read_parquet("
        f"'{out}/fact_sale_line/**/*.parquet', hive_partitioning = true) GROUP BY ALL "
        "ORDER BY 1").fetchall()
    assert rows == [("MSK", 2, 17980 + 149000), ("SPB", 1, 5490)]
    assert (out / "dim_store.parquet").exists() and (out / "dim_customer.parquet").exists()


def test_imported_history_becomes_sale_lines_and_follows_a_merge(central_db, seeded, tmp_path):
    with central_db.transaction() as s:
        anna, ivan = s.scalars(select(Customer).order_by(Customer.created_at, Customer.name)
                               ).all()[:2]
        csv_file = (f"customer,date,quantity,amount,store,product\n"
                    f"{anna.card_number},2024-03-01,2,199.80,S001,1001\n"
                    f"{anna.card_number},2024-04-15,1,54.90,,\n"
                    f"{ivan.card_number},2024-05-02,1,1490.00,S002,3001\n").encode()
        assert not history_import.import_history(s, csv_file).errors
        anna_id, ivan_id = anna.id, ivan.id
    path = tmp_path / "wh.duckdb"
    assert load.refresh(central_db, path)["history"] == 3
    assert load.refresh(central_db, path)["history"] == 0  # read once, by id
    assert facts(path, "SELECT customer_id::VARCHAR, count(*), sum(amount_minor) "
                       "FROM fact_sale_line WHERE source = 'import' GROUP BY 1 ORDER BY 3") == [
        (str(anna_id), 2, 19980 + 5490), (str(ivan_id), 1, 149000)]
    with central_db.transaction() as s:
        office = s.scalars(select(User).where(User.username == "office")).one()
        data_rights.merge(s, s.get(Customer, anna_id), s.get(Customer, ivan_id), office)
    load.refresh(central_db, path)
    assert facts(path, "SELECT DISTINCT customer_id::VARCHAR FROM fact_sale_line "
                       "WHERE source = 'import'") == [(str(anna_id),)]
    assert facts(path, "SELECT count(*) FROM fact_sale_line WHERE source = 'import' "
                       "AND customer_key IS NULL")[0][0] == 0


def test_a_warehouse_belongs_to_one_central(central_db, tmp_path):
    path = tmp_path / "wh.duckdb"
    load.refresh(central_db, path)
    other = Database(f"sqlite:///{tmp_path / 'other.sqlite'}")
    upgrade(MIGRATIONS, str(other.engine.url))
    try:
        with pytest.raises(load.OtherCentral, match="loaded from"):
            load.refresh(other, path)
        load.rebuild(other, path)  # a rebuild starts it afresh for the other one
        load.refresh(other, path)
    finally:
        other.dispose()


def test_ledger_entries_follow_an_account_handed_over_in_a_merge(central_db, seeded, tmp_path,
                                                                monkeypatch):
    """The kept record had no account: the merge gives it the other's, whose entries do not
    change themselves; long after (no lookback), they still follow."""
    monkeypatch.setattr(load, "LOOKBACK", timedelta(0))
    with central_db.transaction() as s:
        keep = profiles.create_customer(s, "Olga Keep")
        other = s.scalars(select(Customer).where(
            Customer.card_number == "7770000000000001")).one()
        account = s.scalars(select(LoyaltyAccount).where(
            LoyaltyAccount.customer_id == other.id)).one()
        s.add(LoyaltyEntry(account_id=account.id, cause="test:earn:1", kind="earn", points=50,
                           at=utcnow()))
        keep_id, other_id = keep.id, other.id
    path = tmp_path / "wh.duckdb"
    load.refresh(central_db, path)
    assert facts(path, "SELECT DISTINCT customer_id::VARCHAR FROM fact_loyalty_entry") == [
        (str(other_id),)]
    with central_db.transaction() as s:
        office = s.scalars(select(User).where(User.username == "office")).one()
        data_rights.merge(s, s.get(Customer, keep_id), s.get(Customer, other_id), office)
    load.refresh(central_db, path)
    assert facts(path, "SELECT DISTINCT customer_id::VARCHAR FROM fact_loyalty_entry") == [
        (str(keep_id),)]
    assert facts(path, "SELECT count(*) FROM fact_loyalty_entry WHERE customer_key IS NULL"
                 )[0][0] == 0

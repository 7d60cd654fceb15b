"""The second wall on PostgreSQL: a transaction entered as a regional manager's sees and
changes only its region's rows whatever the SQL asks, and a regional manager's API requests
run behind it. (SQLite has no row-level security; the API's checks are the wall there.)"""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from kassa.central.access import region_wall
from tests.helpers import basic_auth


@pytest.fixture
def pg_central(central_db, central_db_url):
    if not central_db_url.startswith("postgresql"):
        pytest.skip("row-level security is PostgreSQL's")
    return central_db


def region_id(db, code):
    with db.read() as s:
        return s.execute(text("SELECT id FROM regions WHERE code = :c"), {"c": code}).scalar()


def test_a_regional_transaction_reaches_only_its_region(pg_central):
    spb = region_id(pg_central, "SPB")
    with pg_central.transaction() as s:
        region_wall.enter(s.connection(), spb)
        assert s.execute(text("SELECT code FROM stores ORDER BY code")).scalars().all() == [
            "S002"]
        assert s.execute(text("SELECT id FROM nodes ORDER BY id")).scalars().all() == ["pos-2"]
        # Moscow's store cannot be renamed, even by id, even with no WHERE at all.
        renamed = s.execute(text("UPDATE stores SET name = name || ' (x)'"))
        assert renamed.rowcount == 1
        # Prices: the chain's are visible, none can be written; only the region's can.
        assert s.execute(text("SELECT count(*) FROM prices WHERE region_id IS NULL "
                              "AND store_id IS NULL")).scalar() > 0
        s.execute(text("INSERT INTO prices (product_id, region_id, amount_minor) "
                       "VALUES (1, :r, 100)"), {"r": spb})
    with pytest.raises(ProgrammingError, match="row-level security"), \
            pg_central.transaction() as s:
        region_wall.enter(s.connection(), spb)
        s.execute(text("INSERT INTO prices (product_id, amount_minor, effective_from) "
                       "VALUES (1, 100, '2031-01-01')"))
    with pg_central.transaction() as s:
        region_wall.enter(s.connection(), spb)
        assert s.execute(text("DELETE FROM prices WHERE store_id IS NULL AND region_id IS NULL"
                              )).rowcount == 0
    with pg_central.read() as s:  # the owner (everyone else) is not walled in
        assert s.execute(text("SELECT count(*) FROM stores")).scalar() == 2
        assert s.execute(text("SELECT name FROM stores WHERE code = 'S001'")
                         ).scalar() == "Tverskaya 7"


def test_a_transaction_with_no_region_set_sees_nothing(pg_central):
    with pg_central.transaction() as s:
        s.connection().exec_driver_sql(f"SET LOCAL ROLE {region_wall.ROLE}")
        assert s.execute(text("SELECT count(*) FROM stores")).scalar() == 0


def test_regional_requests_run_behind_the_wall(pg_central, central_app, seeded):
    """A probe endpoint is not needed: the role shows in what the request's session sees."""
    client = central_app.test_client()
    rm = basic_auth("rm-spb", seeded["users"]["rm-spb"]["password"])
    office = basic_auth("office", seeded["users"]["office"]["password"])
    seen = []

    @central_app.after_request
    def _peek(response):
        with central_app.extensions["kassa_db"].read() as s:
            seen.append(s.execute(text("SELECT current_user, count(*) FROM stores "
                                       "GROUP BY current_user")).one())
        return response

    assert client.get("/api/v1/stores", headers=rm).status_code == 200
    assert client.get("/api/v1/stores", headers=office).status_code == 200
    assert [(user == region_wall.ROLE, n) for user, n in seen] == [(True, 1), (False, 2)]

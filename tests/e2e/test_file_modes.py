"""Files that hold secrets or people's data are 0600 in directories of mode 0700, whatever the
umask: the real commands run here under umask 000 (a setting that would make every file
world-writable), then every file they left is looked at, ``-wal`` and ``-shm`` after writes,
the Litestream replicas and their local state included.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import requests

from kassa.common.config import normalize_db_url
from kassa.common.runtime.processes import Supervisor
from kassa.common.storage import backup
from tests.conftest import PG_ADMIN
from tests.e2e.conftest import KASSA, run_kassa
from tests.helpers import free_port, private_modes, wait_until

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def open_umask():
    """umask 000 for this test and every process it starts."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _replicated(db: Path) -> bool:
    return backup.read_state(db).get("state") == "ok"


def test_central_and_a_till_keep_their_files_private(tmp_path, open_umask):
    """init-db, seed-demo, an issuer key, central served with its backup, a till enrolled,
    synced and served with its backup, a sale, the warehouse refreshed and exported."""
    root = tmp_path / "shop"  # made by kassa: nothing here exists yet
    central_env = {"KASSA_CENTRAL_DB": str(root / "central" / "central.sqlite"),
                   "KASSA_VAR_DIR": str(root / "var"), "KASSA_CENTRAL_JOBS": "off",
                   "KASSA_BACKUP": (root / "replicas" / "central").as_uri(),
                   "KASSA_BACKUP_CHECK_EVERY": "0.5"}
    node_env = {"KASSA_NODE_DB": str(root / "till" / "node.sqlite"),
                "KASSA_VAR_DIR": str(root / "var"), "KASSA_SYNC_INTERVAL": "0",
                "KASSA_BACKUP": (root / "replicas" / "pos-1").as_uri(),
                "KASSA_BACKUP_CHECK_EVERY": "0.5"}
    run_kassa("central", "init-db", env=central_env)
    secrets = json.loads(run_kassa("central", "seed-demo", "--node", "pos-1",
                                   env=central_env).stdout)
    run_kassa("central", "rotate-issuer-key", env=central_env)
    sup = Supervisor(tmp_path / "logs")
    cport, nport = free_port(), free_port()
    central, node = f"http://127.0.0.1:{cport}", f"http://127.0.0.1:{nport}"
    try:
        sup.start("central", KASSA + ["central", "serve", "--port", str(cport)], central_env)
        sup.wait_http("central", central + "/health")
        run_kassa("pos", "init", "--node-id", "pos-1", "--central-url", central,
                  "--enroll-code", secrets["nodes"]["pos-1"]["enroll_code"], env=node_env)
        sup.start("pos-1", KASSA + ["pos", "serve", "--port", str(nport)], node_env)
        sup.wait_http("pos-1", node + "/health")
        till = requests.Session()
        assert till.post(f"{node}/api/v1/session", json={
            "username": "cashier-s001", "pin": secrets["users"]["cashier-s001"]["pin"]},
            timeout=10).status_code == 200
        assert till.post(f"{node}/api/v1/shifts/current", json={"opening_float": 100000},
                         timeout=10).status_code == 201
        assert till.post(f"{node}/api/v1/sales", json={
            "lines": [{"sku": "1001", "quantity": 1}],
            "payments": [{"method": "cash", "amount": 100000}]}, timeout=10).status_code == 201
        run_kassa("pos", "sync-now", env=node_env)
        # While they run, with their WAL and shared memory files open and written.
        assert (root / "till" / "node.sqlite-wal").stat().st_size > 0
        assert wait_until(lambda: _replicated(root / "till" / "node.sqlite"), 30)
        assert wait_until(lambda: _replicated(root / "central" / "central.sqlite"), 30)
        running = private_modes(root, skip=("i18n", "metrics"))
        seen = {p.name for p in root.rglob("*")}
    finally:
        sup.stop_all()
    run_kassa("central", "warehouse", "refresh", env=central_env)
    run_kassa("central", "warehouse", "export", str(root / "central" / "parquet"),
              env=central_env)
    seen |= {p.name for p in root.rglob("*")}
    assert {"node.sqlite-wal", "node.sqlite-shm", "central.warehouse.duckdb", "secret_key",
            "parquet"} <= seen, sorted(seen)
    assert any(name.startswith("issuer-") for name in seen)
    assert running == []
    assert private_modes(root, skip=("i18n", "metrics")) == []
    # The till's and central's replicas restore into private files too.
    restored = tmp_path / "drill" / "copy.sqlite"
    run_kassa("pos", "restore", "--output", str(restored), env=node_env)
    assert private_modes(tmp_path / "drill") == []


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_the_warehouse_is_private_on_both_engines(engine, tmp_path, open_umask,
                                                  seeded_central, request):
    """Refreshed from central on SQLite (the file beside central's) or on PostgreSQL (a
    file named after the database, in the var directory)."""
    var = tmp_path / "var"
    if engine == "sqlite":
        (tmp_path / "db").mkdir(mode=0o700)
        db_url = str(tmp_path / "db" / "central.sqlite")
        seeded_central(Path(db_url))
        warehouse_dir = tmp_path / "db"
    else:
        name = request.getfixturevalue("pg_server").create()
        db_url = normalize_db_url(f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}")
        env = {"KASSA_CENTRAL_DB": db_url, "KASSA_VAR_DIR": str(var)}
        run_kassa("central", "init-db", env=env)
        run_kassa("central", "seed-demo", env=env)
        warehouse_dir = var / "central"
    env = {"KASSA_CENTRAL_DB": db_url, "KASSA_VAR_DIR": str(var)}
    run_kassa("central", "warehouse", "refresh", env=env)
    assert any(p.suffix == ".duckdb" for p in warehouse_dir.iterdir())
    assert private_modes(warehouse_dir) == []

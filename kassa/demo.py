"""``kassa demo``: central and two POS nodes on SQLite, seeded, synced, with one sale rung up.

Everything lives under ``$KASSA_VAR_DIR/demo`` and is made afresh on each run. Ctrl-C (or
SIGTERM) stops every process the demo started.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys

import click
import requests

from kassa.central.demo_data import seed
from kassa.common.config import var_dir
from kassa.common.db import Database
from kassa.common.migrate import upgrade
from kassa.common.processes import Supervisor
from kassa.pos_node.setup import init_node
from kassa.sync.client import sync_now

NODES = ("pos-1", "pos-2")


def run_demo(port: int) -> None:
    root = var_dir() / "demo"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    central_db = f"sqlite:///{root / 'central.sqlite'}"
    upgrade("central", central_db)
    db = Database(central_db)
    with db.transaction() as session:
        secrets_doc = seed(session, NODES)
    db.dispose()
    creds = root / "credentials.json"
    creds.write_text(json.dumps(secrets_doc["users"], indent=2))
    os.chmod(creds, 0o600)

    signal.signal(signal.SIGTERM, _interrupt)
    kassa = [sys.executable, "-m", "kassa.cli"]
    procs = Supervisor(root / "logs")
    central_url = f"http://127.0.0.1:{port}"
    try:
        procs.start("central", kassa + ["central", "serve", "--port", str(port)],
                    {"KASSA_CENTRAL_DB": central_db})
        procs.wait_http("central", central_url + "/health")
        node_urls = {}
        for i, node_id in enumerate(NODES, start=1):
            node_db = f"sqlite:///{root / (node_id + '.sqlite')}"
            init_node(node_db, node_id, central_url, secrets_doc["nodes"][node_id]["enroll_code"])
            node_db_handle = Database(node_db)
            sync_now(node_db_handle)
            url = f"http://127.0.0.1:{port + i}"
            procs.start(node_id, kassa + ["pos", "serve", "--port", str(port + i)],
                        {"KASSA_NODE_DB": node_db})
            procs.wait_http(node_id, url + "/health")
            node_urls[node_id] = (url, node_db, node_db_handle)
        _first_sale(*node_urls["pos-1"], secrets_doc["users"]["cashier-s001"]["pin"])
        _banner(central_url, node_urls, secrets_doc, creds)
        name, code = procs.wait_any()
        click.echo(f"{name} exited with {code}; stopping the demo", err=True)
    except KeyboardInterrupt:
        click.echo("\nstopping central and the nodes ...")
    finally:
        procs.stop_all()
        click.echo("demo stopped")


def _interrupt(*_args) -> None:
    raise KeyboardInterrupt


def _first_sale(url: str, _db_url: str, node_db: Database, pin: str) -> None:
    """Sign in as cashier-s001, open a shift with a 5,000.00 float, sell, push."""
    till = requests.Session()
    till.post(url + "/api/v1/session", json={"username": "cashier-s001", "pin": pin},
              timeout=10).raise_for_status()
    till.post(url + "/api/v1/shifts/current", json={"opening_float": 500000},
              timeout=10).raise_for_status()
    sale = till.post(url + "/api/v1/sales", json={
        "lines": [{"sku": "1001", "quantity": 2}, {"barcode": "2100000020016",
                                                   "quantity": "0.750"}],
        "payments": [{"method": "cash", "amount": 50000}]}, timeout=10)
    sale.raise_for_status()
    sync_now(node_db)


def _banner(central_url: str, nodes: dict, doc: dict, creds) -> None:
    users = doc["users"]
    lines = [
        "", "kassa demo is up. Ctrl-C stops everything.", "",
        f"  till pos-1     {nodes['pos-1'][0]}/   sign in: cashier-s001 / PIN "
        f"{users['cashier-s001']['pin']}  (manager sm-s001 / PIN {users['sm-s001']['pin']})",
        f"  till pos-2     {nodes['pos-2'][0]}/   sign in: cashier-s002 / PIN "
        f"{users['cashier-s002']['pin']}  (manager sm-s002 / PIN {users['sm-s002']['pin']})",
        f"  central        {central_url}/health",
        f"    OpenAPI      {central_url}/api/openapi.json",
        f"    report       {central_url}/api/v1/reports/sales-by-store "
        f"(HTTP Basic: office / {users['office']['password']})",
    ]
    for node_id, (url, db_url, _db) in nodes.items():
        lines += [f"  {node_id:<14} {url}/api/v1/status",
                  f"    OpenAPI      {url}/api/openapi.json",
                  f"    sync now     KASSA_NODE_DB={db_url} .venv/bin/kassa pos sync-now"]
    lines += ["", f"  every demo user's password and PIN: {creds}", ""]
    click.echo("\n".join(lines))

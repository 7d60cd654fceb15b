"""``kassa demo``: central and two POS nodes on SQLite, seeded, synced, with one sale rung up,
and Anna Petrova's loyalty card (with a PIN and points to spend) in till pos-1's reader. Each
till has a receipt printer: a virtual ESC/POS network printer (``kassa printer-sim``) that
writes what it printed as text under ``printers/``.

The card is the project's virtual card behind pcscd's vpcd driver: the demo starts pcscd when
none answers, and each till watches its own virtual reader. Without pcscd the demo runs on and
says in its banner why the card is not in a reader.

Everything lives under ``$KASSA_VAR_DIR/demo`` and is made afresh on each run. Ctrl-C (or
SIGTERM) stops every process the demo started, pcscd last; a pcscd it found running stays.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import click
import requests
from sqlalchemy import select

from kassa.central.catalog.stores import store_view
from kassa.central.demo_data import new_pin, seed
from kassa.central.membership import cards, loyalty_accounts
from kassa.central.models import MIGRATIONS, Customer, Store
from kassa.central.replication.feed import record_change
from kassa.central.replication.feed_documents import store_doc
from kassa.central.selfservice import my_account
from kassa.common.config import var_dir
from kassa.common.db import Database, utcnow
from kassa.common.runtime.processes import ProcessFailed, Supervisor
from kassa.common.storage.migrate import upgrade
from kassa.common.storage.private import private_dir, write_private
from kassa.loyalty.ledger import EntryKind, LedgerEntry
from kassa.pos_node.replication.client import sync_now
from kassa.pos_node.replication.enrolment import init_node
from kassa.smartcard import pcscd
from kassa.smartcard.applet import save_card
from kassa.smartcard.vpcd import VPCD_PORT

NODES = ("pos-1", "pos-2")
# Each till watches its own virtual reader: one reader for both would show the card at both.
TILL_READERS = {"pos-1": ("Virtual PCD 00 00", VPCD_PORT),
                "pos-2": ("Virtual PCD 00 01", VPCD_PORT + 1)}
CARD_CUSTOMER = "Anna Petrova"
WELCOME_POINTS = 500
STOCK_SMART, STOCK_PRINTED = 3, 5  # S001's card stock, for new members at pos-1
PCSCD_READY_S = 15.0
# The fiscal register simulator of pos-2 listens on central's port plus this.
FISCAL_PORT_OFFSET = 20
CARD_READY_S = 10.0
PRINTER_PORT_OFFSET = 10  # the tills' printers listen at central's port + 10 + n


@dataclass(frozen=True)
class DemoCard:
    number: str
    pin: str
    path: Path
    points: int


def run_demo(port: int) -> None:
    root = var_dir() / "demo"
    shutil.rmtree(root, ignore_errors=True)
    private_dir(root)  # central's and the tills' databases, the issuer key, credentials
    central_db = f"sqlite:///{root / 'central.sqlite'}"
    upgrade(MIGRATIONS, central_db)
    db = Database(central_db)
    with db.transaction() as session:
        secrets_doc = seed(session, NODES)
        _speak_russian(session, "S002")
    # Before the nodes' first sync: they pull the card's number, its issuer key and the points.
    card = _issue_card(db, root / "issuer", root / "anna.card")
    stock = _issue_stock(db, root / "issuer", root / "stock")
    db.dispose()
    creds = root / "credentials.json"
    write_private(creds, json.dumps(secrets_doc["users"], indent=2))

    # Ctrl-C and SIGTERM both stop the demo cleanly. SIGINT is set here too, not left to
    # Python's default: a shell starting a job in the background ignores SIGINT for it, and
    # Python then installs no handler of its own (the test suite run as `make test &` did).
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    kassa = [sys.executable, "-m", "kassa.cli"]
    services = Supervisor(root / "logs")  # pcscd, stopped after everything that uses it
    procs = Supervisor(root / "logs")
    central_url = f"http://127.0.0.1:{port}"
    try:
        pcscd_note, card_off = _card_service(services)
        procs.start("central", kassa + ["central", "serve", "--port", str(port)],
                    {"KASSA_CENTRAL_DB": central_db, "KASSA_ISSUER_KEY_DIR": str(root / "issuer"),
                     **_backup_env(root, "central")})
        procs.wait_http("central", central_url + "/health")
        # pos-2, the Russian store's till, has a fiscal register: the simulator of an ATOL one.
        fiscal_url = f"http://127.0.0.1:{port + FISCAL_PORT_OFFSET}"
        procs.start("fiscal-sim", kassa + ["dev", "fiscal-sim", "--port",
                                           str(port + FISCAL_PORT_OFFSET)], {})
        procs.wait_http("fiscal-sim", fiscal_url + "/sim/journal")
        printers = _start_printers(procs, kassa, root, port)
        node_urls = {}
        for i, node_id in enumerate(NODES, start=1):
            node_db = f"sqlite:///{root / (node_id + '.sqlite')}"
            init_node(node_db, node_id, central_url, secrets_doc["nodes"][node_id]["enroll_code"])
            node_db_handle = Database(node_db)
            sync_now(node_db_handle)
            url = f"http://127.0.0.1:{port + i}"
            procs.start(node_id, kassa + ["pos", "serve", "--port", str(port + i)],
                        {"KASSA_NODE_DB": node_db, "KASSA_CARD_READER": TILL_READERS[node_id][0],
                         **({"KASSA_FISCAL": f"atol+{fiscal_url}"} if node_id == "pos-2" else {}),
                         "KASSA_PRINTER": printers[node_id][0], **_backup_env(root, node_id)})
            procs.wait_http(node_id, url + "/health")
            node_urls[node_id] = (url, node_db, node_db_handle)
        card_pid = None
        if card_off is None:
            card_pid, card_off = _insert_card(procs, kassa, card)
        _first_sale(*node_urls["pos-1"], secrets_doc["users"]["cashier-s001"]["pin"])
        _banner(central_url, central_db, node_urls, secrets_doc, creds, card,
                _card_lines(card, card_off or pcscd_note, card_pid if card_off is None else None)
                + _stock_lines(stock, card_pid if card_off is None else None)
                + _fiscal_lines(fiscal_url)
                + _printer_lines(printers))
        # The card's process may end: that is the card taken out (to move it to pos-2).
        name, code = procs.wait_any(ignore={"card"})
        click.echo(f"{name} exited with {code}; stopping the demo", err=True)
    except KeyboardInterrupt:
        click.echo("\nstopping central, the nodes and the card ...")
    finally:
        procs.stop_all()
        services.stop_all()
        click.echo("demo stopped")


def _speak_russian(session, code: str) -> None:
    """The demo shows both languages: this store's tills speak Russian (through the feed, as
    a change made at central's API would)."""
    store = session.scalars(select(Store).where(Store.code == code)).one()
    store.locale = "ru"
    record_change(session, "store", store.id,
                  store_doc(SimpleNamespace(**store_view(store, store.region.code))))


def _issue_card(db: Database, key_dir: Path, path: Path) -> DemoCard:
    """An active card with a PIN for the demo customer, and welcome points to spend."""
    pin = new_pin()
    with db.transaction() as session:
        customer = session.scalars(select(Customer).where(Customer.name == CARD_CUSTOMER)).one()
        account = loyalty_accounts.open_account(session, customer)
        state = cards.issue(session, account, key_dir, pin=pin)
        cards.activate(session, state.card_number)
        # The demo's customer has one PIN: the card's works on her web page too (a real
        # customer sets a web PIN of their own with a code mailed to them).
        my_account.set_web_pin(session, state.card_number, pin, by="demo")
        loyalty_accounts.post(session, account.id, LedgerEntry("demo:welcome", EntryKind.ADJUSTMENT,
                                                               WELCOME_POINTS, utcnow()))
    save_card(state, path)
    return DemoCard(state.card_number, pin, path, WELCOME_POINTS)


@dataclass(frozen=True)
class DemoStock:
    smart: list[Path]  # card files of S001's stock smart cards
    printed: list[str]  # numbers of S001's stock printed cards


def _issue_stock(db: Database, key_dir: Path, folder: Path) -> DemoStock:
    """S001's card stock, for new members signed up at pos-1: smart cards (card files the
    virtual card runs from) and printed ones."""
    with db.transaction() as session:
        store = session.scalars(select(Store).where(Store.code == "S001")).one()
        smart = cards.issue_stock(session, store, STOCK_SMART, key_dir)
        printed = cards.issue_stock(session, store, STOCK_PRINTED, key_dir, printed=True)
    private_dir(folder)  # each card file holds its card's private key
    files = []
    for state in smart:
        assert not isinstance(state, str)  # smart cards come as card states
        files.append(folder / f"{state.card_number}.card")
        save_card(state, files[-1])
    return DemoStock(files, [n for n in printed if isinstance(n, str)])


def _stock_lines(stock: DemoStock, card_pid: int | None) -> list[str]:
    """How to sign a new member up at pos-1, with S001's stock cards."""
    take_out = f"kill {card_pid} && " if card_pid is not None else ""
    return [
        "  new members    at pos-1: Ins (New member), or F2 with a phone nobody has and Enter "
        "again; offline too",
        f"    smart card   {take_out}.venv/bin/kassa card emulate {stock.smart[0]} --port "
        f"{TILL_READERS['pos-1'][1]}   (a stock card: the sign-up opens by itself)",
        f"    printed      {', '.join(stock.printed[:3])}: scan or type one into the sign-up's "
        "card field",
    ]


def _fiscal_lines(url: str) -> list[str]:
    return [f"  fiscal register pos-2: a simulated ATOL register at {url} "
            "(KASSA_FISCAL; not a fiscal device)",
            f"    its tape     {url}/sim/journal.txt   (what it registered: receipts, Z reports)",
            f"    paper out    curl -d '{{\"paper\": false}}' {url}/sim/state   "
            "(true puts it back)"]


def _backup_env(root: Path, name: str) -> dict[str, str]:
    """Each database streams to a replica of the demo's own (made afresh with it), unless
    KASSA_BACKUP says otherwise (``off`` for none)."""
    if os.environ.get("KASSA_BACKUP"):
        return {}
    return {"KASSA_BACKUP": (root / "backup" / name).as_uri()}


def _card_service(services: Supervisor) -> tuple[str, str | None]:
    """pcscd with the vpcd readers: (whose pcscd it is, None), or ("", why there is none).
    Never fails the demo: the card is the only part that needs pcscd."""
    try:
        if pcscd.running_readers():
            return "pcscd: the one already running, left running", None
        command = pcscd.pcscd_command()
        pcscd.wait_ports_free()
        services.start("pcscd", command)
        services.wait_for("pcscd", pcscd.vpcd_readers, "list the vpcd readers", PCSCD_READY_S)
        return "pcscd: started by the demo", None
    except pcscd.PcscdUnavailable as err:
        return "", str(err)
    except (ProcessFailed, OSError) as err:
        services.stop_all()
        said = _last_line(services.log_dir / "pcscd.log")
        return "", f"{err}{pcscd.needs_root_hint()}" + (f"; it said: {said}" if said else "")


def _last_line(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return ""
    return lines[-1].strip() if lines else ""


def _insert_card(procs: Supervisor, kassa: list[str], card: DemoCard) -> tuple[int, str | None]:
    """The virtual card in pos-1's reader: its process id, and None once pcscd sees the card
    (else why it does not)."""
    reader, port = TILL_READERS["pos-1"]
    proc = procs.start("card", kassa + ["card", "emulate", str(card.path), "--port", str(port)])
    try:
        procs.wait_for("card", lambda: pcscd.card_present(reader), f"show up in {reader}",
                       CARD_READY_S)
    except ProcessFailed as err:
        return proc.pid, str(err)
    return proc.pid, None


def _start_printers(procs: Supervisor, kassa: list[str], root: Path,
                    port: int) -> dict[str, tuple[str, Path]]:
    """A virtual receipt printer per till: {node: (its KASSA_PRINTER, its text file)}."""
    printers = {}
    for i, node_id in enumerate(NODES, start=1):
        printer_port = port + PRINTER_PORT_OFFSET + i
        text = root / "printers" / f"{node_id}.txt"
        procs.start(f"printer-{node_id}", kassa + ["printer-sim", "--port", str(printer_port),
                                                   "--text", str(text)])
        procs.wait_for(f"printer-{node_id}", partial(_listens, printer_port),
                       f"listen at port {printer_port}", 15.0)
        printers[node_id] = (f"tcp://127.0.0.1:{printer_port}", text)
    return printers


def _listens(port: int) -> bool:
    import socket
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def _printer_lines(printers: dict[str, tuple[str, Path]]) -> list[str]:
    """Where to see what each till printed (receipts, cash slips, X and Z reports)."""
    lines = ["  printers       each till prints to a virtual ESC/POS printer; the last receipts "
             "as text:"]
    for node_id, (url, text) in printers.items():
        lines.append(f"    {node_id:<12} tail -f {text}   ({url}; F1 at the till reprints)")
    return lines


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


def _banner(central_url: str, central_db: str, nodes: dict, doc: dict, creds, card: DemoCard,
            card_lines: list[str]) -> None:
    users = doc["users"]
    lines = [
        "", "kassa demo is up. Ctrl-C stops everything.", "",
        f"  till pos-1     {nodes['pos-1'][0]}/   sign in: cashier-s001 / PIN "
        f"{users['cashier-s001']['pin']}  (manager sm-s001 / PIN {users['sm-s001']['pin']})",
        f"  till pos-2     {nodes['pos-2'][0]}/   sign in: cashier-s002 / PIN "
        f"{users['cashier-s002']['pin']}  (manager sm-s002 / PIN {users['sm-s002']['pin']})"
        "  in Russian",
        f"  managers       {central_url}/ops/nodes   sign in: office / "
        f"{users['office']['password']}  (?lang=ru for Russian)",
        f"  customers      {central_url}/my/   sign in: card {card.number} / PIN {card.pin}",
        f"  central        {central_url}/health",
        f"    OpenAPI      {central_url}/api/openapi.json",
        f"    report       {central_url}/api/v1/reports/sales-by-store "
        f"(HTTP Basic: office / {users['office']['password']})",
    ]
    for node_id, (url, db_url, _db) in nodes.items():
        lines += [f"  {node_id:<14} {url}/api/v1/status",
                  f"    OpenAPI      {url}/api/openapi.json",
                  f"    sync now     KASSA_NODE_DB={db_url} .venv/bin/kassa pos sync-now"]
    lines += card_lines
    # Central's commands (`kassa central nodes`, `kassa card web-pin`, ...) work on the
    # database they are pointed at; this points them at the demo's.
    lines += ["", "  command line   point kassa's commands at the demo's central:",
              f"    export KASSA_CENTRAL_DB={central_db}",
              "    .venv/bin/kassa central nodes"]
    lines += ["", f"  every demo user's password and PIN: {creds}", ""]
    click.echo("\n".join(lines))


def _card_lines(card: DemoCard, note: str, pid: int | None) -> list[str]:
    """The card's part of the banner; ``pid`` is the card's process when it is in pos-1's
    reader (``note`` says whose pcscd), None when it is in no reader (``note`` says why)."""
    lines = [f"  loyalty card   {card.number}: {CARD_CUSTOMER}, {card.points} points, "
             f"PIN {card.pin}"]
    if pid is None:
        return lines + [f"    card off     {note}",
                        "                 its number can still be keyed in at a till (earns "
                        "points, cannot spend them)"]
    return lines + [f"    in reader    {TILL_READERS['pos-1'][0]} of pos-1 ({note})",
                    f"    to pos-2     kill {pid} && .venv/bin/kassa card emulate {card.path} "
                    f"--port {TILL_READERS['pos-2'][1]}"]

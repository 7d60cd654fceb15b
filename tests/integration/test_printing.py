"""The till's receipt printer and cash drawer (issue 24, items 1 and 2), against the virtual
ESC/POS network printer (``kassa.pos_node.devices.printer_sim``): what the bytes the till
sends decode to in English and in Russian, the cut and the drawer pulse; the print queue loses
no job while the printer is out of paper or unreachable and prints each job once; a reprint
says COPY; opening the drawer without a sale needs a store manager and goes to central's
audit; a till with no printer writes no jobs. The same through the browser is in
tests/e2e/test_till_printer_ui.py."""

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from kassa.common.config import NodeConfig, PrinterConfig
from kassa.pos_node import create_app as create_node
from kassa.pos_node.devices import slips
from kassa.pos_node.devices.escpos_printer import EscposPrinter
from kassa.pos_node.devices.printer_sim import VirtualPrinter
from kassa.pos_node.models import OutboxEvent, PrintJob
from kassa.pos_node.sale import receipts
from tests.helpers import free_port, wait_until
from tests.integration.test_documents_locale import SALE, set_store
from tests.integration.test_till_workflow import manager

CUT = b"\x1dV"
KICK = b"\x1bp"


@pytest.fixture
def printer():
    sim = VirtualPrinter().start()
    yield sim
    sim.stop()


def printing_till(node_db_url, pins, url: str, width: int = 80):
    app = create_node(NodeConfig(db_url=node_db_url, push_batch_size=200, http_timeout=5,
                                 printer=PrinterConfig(url, width_mm=width)))
    client = app.test_client()
    assert client.post("/api/v1/session", json={"username": "cashier-s001",
                                                 "pin": pins["cashier-s001"]}).status_code == 200
    assert client.post("/api/v1/shifts/current",
                       json={"opening_float": 100000}).status_code == 201
    return client, app.extensions["kassa_printer"]


@pytest.fixture
def till_with_printer(node_db_url, stocked_node, pins, printer):
    client, worker = printing_till(node_db_url, pins, printer.url)
    yield client, worker
    client.application.extensions["kassa_db"].dispose()


def sell(client, payments=None) -> dict:
    resp = client.post("/api/v1/sales", json={**SALE, **({"payments": payments}
                                                         if payments else {})})
    assert resp.status_code == 201, resp.json
    return resp.json


def receipts_printed(printer) -> list[str]:
    return [s for s in printer.slips() if "[QR " in s]


EXPECTED = {
    "en": ("Tverskaya 7", "Receipt", "Till pos-1", "Coffee beans", "1,490.00", "0.75 kg",
           "TOTAL", "RUB 1,609.93", "incl. VAT", "Cash", "2,000.00", "Change due", "390.07",
           "Thank you!"),
    "ru": ("Tverskaya 7", "Чек", "Касса pos-1", "1 490,00", "0,75 кг", "ИТОГ",
           "1 609,93 руб.", "в т. ч. НДС", "Наличные", "2 000,00", "Сдача", "390,07",
           "Спасибо за покупку!"),
}


@pytest.mark.parametrize("locale", sorted(EXPECTED))
def test_a_cash_sale_opens_the_drawer_and_prints_its_receipt_in_the_stores_language(
        till_with_printer, stocked_node, printer, locale):
    client, worker = till_with_printer
    set_store(stocked_node, locale)
    sale = sell(client)
    assert printer.data == b""              # queued with the sale, printed by the worker
    assert worker.run_once() == 2           # the drawer kick, then the receipt
    data = bytes(printer.data)
    assert data.index(KICK) < data.index(CUT)     # the drawer opens while it prints
    assert data.count(CUT) == 1
    (text,) = receipts_printed(printer)
    for words in EXPECTED[locale]:
        assert words in text, (words, text)
    assert f"[QR {sale['receipt_no']}]" in text   # scanned at the return
    assert ("₽" not in text) and ("?" not in text)   # every character in the code page
    if locale == "ru":
        assert b"\x1bt\x11" in data               # ESC t 17: CP866, the Cyrillic page
        assert "TOTAL" not in text
    assert all(len(line) <= 48 for line in text.splitlines()), text
    total = next(line for line in text.splitlines() if "1,609.93" in line or "1 609,93" in line)
    assert len(total) == 48                       # the amount ends at the paper's edge


def test_a_card_payment_does_not_open_the_drawer(till_with_printer, printer):
    client, worker = till_with_printer
    sell(client, [{"method": "card", "amount": 160993, "reference": "RRN1"}])
    worker.run_once()
    assert len(receipts_printed(printer)) == 1 and printer.drawer_kicks() == 0


def test_out_of_paper_the_sale_completes_the_badge_says_why_and_it_prints_when_paper_is_back(
        till_with_printer, printer):
    client, worker = till_with_printer
    printer.paper = "out"
    sale = sell(client)
    worker.run_once()
    assert receipts_printed(printer) == []
    status = client.get("/api/v1/status").json["printer"]
    assert status == {"state": "no_paper", "waiting": 1}
    second = sell(client)                          # selling goes on
    worker.run_once()
    assert client.get("/api/v1/printer").json == {"state": "no_paper", "waiting": 2}
    printer.paper = "ok"
    worker.run_once()
    printed = receipts_printed(printer)
    assert [re.search(r"\[QR (\S+)\]", t).group(1) for t in printed] == [
        sale["receipt_no"], second["receipt_no"]]
    assert client.get("/api/v1/printer").json == {"state": "ready", "waiting": 0}
    worker.run_once()                              # printed once, not again
    assert len(receipts_printed(printer)) == 2


def test_a_cover_left_open_and_a_printer_switched_off_lose_no_receipt(
        node_db_url, stocked_node, pins):
    port = free_port()
    client, worker = printing_till(node_db_url, pins, f"tcp://127.0.0.1:{port}")
    sale = sell(client)                            # nothing listens: the printer is off
    worker.run_once()
    assert client.get("/api/v1/printer").json == {"state": "unreachable", "waiting": 1}
    with stocked_node.read() as s:
        job = s.scalars(select(PrintJob).where(PrintJob.kind == "receipt")).one()
        assert job.status == "queued" and job.attempts == 1 and job.last_error
    sim = VirtualPrinter(port=port)
    sim.cover_open = True
    sim.start()
    try:
        worker.run_once()
        assert client.get("/api/v1/printer").json == {"state": "cover_open", "waiting": 1}
        assert receipts_printed(sim) == []
        sim.cover_open = False
        worker.run_once()
        (text,) = receipts_printed(sim)
        assert sale["receipt_no"] in text
    finally:
        sim.stop()
    # The drawer kick of that sale had gone stale by then? Here it was seconds: it went out.
    assert sim.drawer_kicks() == 1


def test_a_stale_drawer_kick_is_dropped_not_sent(till_with_printer, stocked_node, printer):
    client, worker = till_with_printer
    printer.paper = "out"
    sell(client)
    with stocked_node.transaction() as s:          # the printer stayed away for ten minutes
        for job in s.scalars(select(PrintJob)):
            job.created_at -= timedelta(minutes=10)
    printer.paper = "ok"
    worker.run_once()
    assert printer.drawer_kicks() == 0 and len(receipts_printed(printer)) == 1
    with stocked_node.read() as s:
        assert s.scalars(select(PrintJob.status).where(PrintJob.kind == "drawer")).one() \
            == "expired"


def test_reprint_last_prints_a_copy_without_opening_the_drawer(till_with_printer, printer):
    client, worker = till_with_printer
    sale = sell(client)
    worker.run_once()
    resp = client.post("/api/v1/printer/reprint", json={})
    assert resp.status_code == 202 and resp.json == {"receipt_no": sale["receipt_no"]}
    worker.run_once()
    original, copy = receipts_printed(printer)
    assert "COPY" not in original and copy.count("*** COPY ***") == 2
    assert sale["receipt_no"] in copy and printer.drawer_kicks() == 1
    assert client.post("/api/v1/printer/reprint",
                       json={"receipt_no": "pos-1-99999999"}).json["error"] \
        == "receipt_not_found"


def test_cash_in_and_out_shift_reports_and_returns_print_and_open_the_drawer(
        till_with_printer, printer, pins):
    client, worker = till_with_printer
    sale = sell(client)
    assert client.post("/api/v1/shifts/current/cash", json={
        "kind": "out", "amount": 50000, "reason": "bank"}).status_code == 201
    ret = client.post("/api/v1/returns", json={
        "receipt_no": sale["receipt_no"], "lines": [{"line_no": 1, "quantity": 1}],
        "reason": "faulty", "override": manager(pins)})
    assert ret.status_code == 201, ret.json
    assert client.post("/api/v1/shifts/current/x-report", json={}).status_code == 202
    assert client.post("/api/v1/shifts/current/close",
                       json={"counted_cash": 10}).status_code == 200
    worker.run_once()
    sale_slip, cash_slip, return_slip, x, z = printer.slips()
    assert "Cash out" in cash_slip and "500.00" in cash_slip and "bank" in cash_slip
    assert "RETURN" in return_slip and sale["receipt_no"] in return_slip
    assert "X report" in x and "Z report" in z and "Counted" in z and "Counted" not in x
    assert printer.drawer_kicks() == 4        # sale, cash out, cash refund, shift close


def test_opening_the_drawer_without_a_sale_needs_a_manager_and_is_audited(
        till_with_printer, stocked_node, printer, pins):
    client, worker = till_with_printer
    refused = client.post("/api/v1/drawer/open", json={})
    assert refused.status_code == 403 and refused.json["details"]["override_required"]
    wrong = client.post("/api/v1/drawer/open", json={"override": {
        "username": "sm-s001", "pin": "0000", "reason": "change for a note"}})
    assert wrong.status_code == 401 and wrong.json["error"] == "bad_override"
    worker.run_once()
    assert printer.drawer_kicks() == 0
    ok = client.post("/api/v1/drawer/open", json={"override": manager(pins, "change")})
    assert ok.status_code == 202, ok.json
    worker.run_once()
    assert wait_until(lambda: printer.drawer_kicks() == 1, 5) and printer.slips() == []
    with stocked_node.read() as s:
        event = s.scalars(select(OutboxEvent).where(OutboxEvent.kind == "override.granted")
                          .order_by(OutboxEvent.seq.desc())).first()
    assert event.payload["action"] == "open_drawer" and event.payload["reason"] == "change"


def test_a_till_without_a_printer_writes_no_jobs(till, stocked_node):
    assert till.post("/api/v1/sales", json=SALE).status_code == 201
    with stocked_node.read() as s:
        assert s.scalars(select(PrintJob)).all() == []
    assert till.get("/api/v1/status").json["printer"] == {"state": "off", "waiting": 0}
    resp = till.post("/api/v1/printer/reprint", json={})
    assert resp.status_code == 409 and resp.json["error"] == "printer_off"


def test_58_mm_paper_keeps_every_line_to_32_characters():
    # A long store name, address and product name wrap; the amounts stay at the right edge.
    view = receipts.ReceiptView(
        "pos-1-00000007", "sale", "completed", datetime(2026, 12, 8, 12, 0, tzinfo=timezone.utc),
        "Supermarket on a very long street name", "1 Long Street, Some Town 123456", "pos-1",
        "Maria Ivanova",
        [receipts.Line("Organic free-range eggs, a dozen, large", 1000, "pcs", 45000, 0, 45000,
                       1000, 4091)],
        [receipts.Tender("cash", 45000, 50000, None)], 45000, change_minor=5000)
    text = slips.as_text(slips.receipt(view, 32), 32)
    assert all(len(line) <= 32 for line in text.splitlines()), text
    assert re.search(r"^dozen, large +450\.00$", text, re.M), text
    assert re.search(r"^Change due +50\.00$", text, re.M), text


def test_the_customer_is_masked_and_their_points_printed(printer):
    view = receipts.ReceiptView(
        "pos-1-00000008", "sale", "completed", datetime(2026, 12, 8, 12, 0, tzinfo=timezone.utc),
        "Tverskaya 7", "", "pos-1", "Maria Ivanova",
        [receipts.Line("Milk 3.2% 1 l", 1000, "pcs", 8990, 0, 8990, 1000, 817)],
        [receipts.Tender("points", 4000, 4000, None), receipts.Tender("cash", 4990, 5000, None)],
        8990, change_minor=10, customer_name="Anna P.", card_last4="0001", points_paid=40,
        points_earned=1, points_balance=461)
    with EscposPrinter(PrinterConfig(printer.url), "en") as device:
        device.print_slip(slips.receipt(view, 48))
        assert device.state().state == "ready"   # answered after it took the slip
    (text,) = printer.slips()
    assert re.search(r"^Customer +Anna P\., card \*\*\*\* 0001$", text, re.M), text
    assert re.search(r"^Points \(40 points\) +40\.00$", text, re.M), text
    assert re.search(r"^Points earned +\+1$", text, re.M), text
    assert re.search(r"^Points balance +461$", text, re.M), text
    assert "Petrova" not in text


def test_jobs_done_a_month_ago_are_forgotten_and_waiting_ones_kept(
        till_with_printer, stocked_node, printer):
    client, worker = till_with_printer
    sell(client)
    worker.run_once()
    printer.paper = "out"
    sell(client)
    worker.run_once()
    with stocked_node.transaction() as s:
        for job in s.scalars(select(PrintJob)):
            job.created_at -= timedelta(days=31)
            if job.done_at:
                job.done_at -= timedelta(days=31)
    worker.next_prune = 0.0
    worker.run_once()
    with stocked_node.read() as s:
        # The first sale's kick and receipt and the second's kick (sent, paper or not) went.
        assert [(j.kind, j.status) for j in s.scalars(select(PrintJob))] == [
            ("receipt", "queued")]

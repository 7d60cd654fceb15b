"""A till with a fiscal register (54-FZ), against the ATOL simulator over real HTTP: each
receipt is registered before its sale completes, once, whatever answers get lost; a register
that refuses leaves the sale open with the cashier's reason; returns go as return receipts
naming their original; the fiscal attributes reach central."""

from datetime import timedelta

import pytest
import requests
from sqlalchemy import select

from kassa.central.models import Customer, MailMessage
from kassa.central.models import Sale as CentralSale
from kassa.common.config import NodeConfig
from kassa.common.i18n import translations
from kassa.pos_node.app import create_app as create_node
from kassa.pos_node.devices.atol_simulator import Simulator
from kassa.pos_node.models import Sale, Shift, Store
from kassa.pos_node.replication.client import sync_now
from tests.helpers import staff_auth
from tests.integration.conftest import open_till

CASH = {"payments": [{"method": "cash", "amount": 100000}]}


@pytest.fixture
def register():
    sim = Simulator().start()
    yield sim
    sim.stop()


def state(sim, **changes):
    requests.post(f"{sim.url}/sim/state", json=changes, timeout=5).raise_for_status()


def journal(sim, kind=None) -> list[dict]:
    entries = requests.get(f"{sim.url}/sim/journal", timeout=5).json()
    return [e for e in entries if kind is None or e["type"] == kind]


@pytest.fixture
def fiscal_till(node_db_url, stocked_node, pins, register):
    """cashier-s001 signed in at pos-1, whose register is the simulator; shift open."""
    app = create_node(NodeConfig(db_url=node_db_url, push_batch_size=200, http_timeout=2,
                                 fiscal=f"atol+{register.url}"))
    client = app.test_client()
    assert client.post("/api/v1/session", json={"username": "cashier-s001",
                                                 "pin": pins["cashier-s001"]}).status_code == 200
    assert client.post("/api/v1/shifts/current", json={"opening_float": 100000}
                       ).status_code == 201
    yield client
    app.extensions["kassa_db"].dispose()


def cart(client, *skus):
    for sku in skus:
        assert client.post("/api/v1/cart/lines", json={"sku": sku, "quantity": 1}
                           ).status_code == 201
    return client.get("/api/v1/cart").json


def test_the_register_shift_opens_with_the_tills_and_closes_with_its_z(fiscal_till, register):
    assert [e["type"] for e in journal(register)] == ["openShift"]
    resp = fiscal_till.post("/api/v1/shifts/current/close", json={"counted_cash": 100000})
    assert resp.status_code == 200, resp.json
    assert [e["type"] for e in journal(register)] == ["openShift", "closeShift"]


def test_a_sale_is_fiscalised_before_it_completes(fiscal_till, register, stocked_node):
    open_cart = cart(fiscal_till, "1001", "1002")
    resp = fiscal_till.post("/api/v1/cart/checkout",
                            json={**CASH, "receipt_email": "anna@example.com"})
    assert resp.status_code == 201, resp.json
    sale = resp.json
    (sell,) = journal(register, "sell")
    assert sale["fiscal_document_number"] == sell["fiscalDocumentNumber"]
    assert sale["fiscal_sign"] == sell["fiscalDocumentSign"]
    assert sale["fiscal_drive_number"] == sell["fnNumber"]
    task = sell["task"]
    assert [(i["name"], i["price"], i["quantity"], i["amount"], i["paymentMethod"],
             i["paymentObject"]) for i in task["items"]] == [
        (ln["name"], ln["unit_price_minor"] / 100, 1, ln["amount_minor"] / 100, "fullPayment",
         "commodity") for ln in open_cart["lines"]]
    assert {i["tax"]["type"] for i in task["items"]} <= {"vat20", "vat10", "vat0"}
    assert task["payments"] == [{"type": "cash", "sum": 1000.0}]
    assert task["total"] == sale["total_minor"] / 100
    assert task["clientInfo"] == {"emailOrPhone": "anna@example.com"}
    assert task["electronically"] is True
    page = fiscal_till.get(f"/receipts/{sale['receipt_no']}").get_data(as_text=True)
    assert str(sell["fiscalDocumentNumber"]) in page and sell["fiscalDocumentSign"] in page
    assert sell["fnNumber"] in page and "Not a fiscal document" not in page


def test_paper_out_leaves_the_sale_open_until_paper_is_back(fiscal_till, register):
    cart(fiscal_till, "1001")
    state(register, paper=False)
    resp = fiscal_till.post("/api/v1/cart/checkout", json=CASH)
    assert resp.status_code == 409
    assert resp.json["error"] == "fiscal_paper_out"
    assert "out of paper" in resp.json["message"]
    assert fiscal_till.get("/api/v1/cart").json["status"] == "open"
    assert journal(register, "sell") == []
    # Refused, nothing registered: the cart may change again.
    assert fiscal_till.post("/api/v1/cart/lines", json={"sku": "1002", "quantity": 1}
                            ).status_code == 201
    state(register, paper=True)
    resp = fiscal_till.post("/api/v1/cart/checkout", json=CASH)
    assert resp.status_code == 201, resp.json
    assert len(journal(register, "sell")) == 1
    assert len(journal(register, "sell")[0]["task"]["items"]) == 2


def test_a_lost_answer_is_asked_for_again_never_registered_twice(fiscal_till, register,
                                                                  stocked_node):
    cart(fiscal_till, "1001")
    state(register, drop_answers=1000)  # the register works; its answers do not arrive
    resp = fiscal_till.post("/api/v1/cart/checkout", json=CASH)
    assert resp.status_code == 503 and resp.json["error"] == "fiscal_no_answer"
    assert len(journal(register, "sell")) == 1  # it did register the receipt
    with stocked_node.read() as s:
        task_id = s.scalars(select(Sale.fiscal_task_id).where(Sale.status == "open")).one()
    assert task_id is not None
    # The register may hold the cart as it stands: it cannot change now.
    changed = fiscal_till.post("/api/v1/cart/lines", json={"sku": "1002", "quantity": 1})
    assert changed.status_code == 409 and changed.json["error"] == "fiscal_pending"
    assert fiscal_till.post("/api/v1/cart/void", json={"reason": "x"}).json["error"] \
        == "fiscal_pending"
    state(register, drop_answers=0)
    resp = fiscal_till.post("/api/v1/cart/checkout", json=CASH)
    assert resp.status_code == 201, resp.json
    (sell,) = journal(register, "sell")  # the same task: answered, not registered again
    assert sell["uuid"] == str(task_id)
    assert resp.json["fiscal_document_number"] == sell["fiscalDocumentNumber"]


def test_one_lost_answer_is_recovered_within_the_same_payment(fiscal_till, register):
    cart(fiscal_till, "1001")
    state(register, drop_answers=1)
    resp = fiscal_till.post("/api/v1/cart/checkout", json=CASH)
    assert resp.status_code == 201, resp.json
    assert len(journal(register, "sell")) == 1


def test_a_shift_past_24_hours_is_refused(fiscal_till, register, stocked_node):
    cart(fiscal_till, "1001")
    state(register, shift_age_hours=25)  # the register's shift: its own clock says so
    resp = fiscal_till.post("/api/v1/cart/checkout", json=CASH)
    assert resp.status_code == 409 and resp.json["error"] == "fiscal_shift_expired"
    assert "24 hours" in resp.json["message"]
    assert fiscal_till.get("/api/v1/cart").json["status"] == "open"
    state(register, shift_age_hours=None)
    with stocked_node.transaction() as s:  # the till's own shift, by the till's clock
        shift = s.scalars(select(Shift)).one()
        shift.opened_at -= timedelta(hours=25)
    resp = fiscal_till.post("/api/v1/cart/checkout", json=CASH)
    assert resp.status_code == 409 and resp.json["error"] == "fiscal_shift_expired"
    assert journal(register, "sell") == []


def test_an_ofd_backlog_near_the_drives_limit_is_refused(fiscal_till, register):
    cart(fiscal_till, "1001")
    state(register, ofd_backlog_days=26)
    resp = fiscal_till.post("/api/v1/cart/checkout", json=CASH)
    assert resp.status_code == 409 and resp.json["error"] == "fiscal_ofd_backlog"
    assert "26 days" in resp.json["message"]
    assert journal(register, "sell") == []


def test_a_return_is_a_return_receipt_naming_the_original(fiscal_till, register):
    cart(fiscal_till, "1001", "1002")
    sale = fiscal_till.post("/api/v1/cart/checkout", json=CASH).json
    resp = fiscal_till.post("/api/v1/returns", json={
        "receipt_no": sale["receipt_no"], "lines": [{"line_no": 1, "quantity": 1}],
        "reason": "faulty"})
    assert resp.status_code == 201, resp.json
    (back,) = journal(register, "sellReturn")
    reference = [i for i in back["task"]["items"] if i["type"] == "userAttribute"]
    assert reference == [{"type": "userAttribute", "name": "Возврат по чеку", "print": True,
                          "value": f"ФН {sale['fiscal_drive_number']} "
                                   f"ФД {sale['fiscal_document_number']} "
                                   f"ФП {sale['fiscal_sign']}"}]
    assert back["task"]["total"] == resp.json["total_minor"] / 100
    assert resp.json["fiscal_document_number"] == back["fiscalDocumentNumber"]
    page = fiscal_till.get(f"/receipts/{resp.json['return_no']}").get_data(as_text=True)
    assert back["fiscalDocumentSign"] in page


def test_without_a_register_the_receipt_says_it_is_not_fiscal(till):
    sale = till.post("/api/v1/sales", json={"lines": [{"sku": "1001", "quantity": 1}], **CASH})
    assert sale.status_code == 201 and sale.json["fiscal_document_number"] is None
    page = till.get(f"/receipts/{sale.json['receipt_no']}").get_data(as_text=True)
    assert 'id="not-fiscal"' in page and "Not a fiscal document" in page


def test_fiscal_attributes_and_e_receipts_reach_central(central_app, central_db, seeded,
                                                       live_central, node_template, tmp_path,
                                                       demo_secrets, register):
    """pos-2, the Russian store, with the register: its refusal in Russian, its fiscal
    attributes at central; a sale without a register has its e-receipt mailed by central."""
    client, db, app = open_till(central_db, live_central, node_template, tmp_path, "pos-2", 2,
                                seeded["nodes"]["pos-2"]["enroll_code"], "cashier-s002",
                                demo_secrets["users"]["cashier-s002"]["pin"],
                                fiscal=f"atol+{register.url}")
    try:
        with db.transaction() as s:  # the store's tills speak Russian (the demo's S002)
            s.get(Store, 2).locale = "ru"
        cart(client, "1001")
        state(register, paper=False)
        refused = client.post("/api/v1/cart/checkout", json=CASH)
        assert refused.json["message"] == translations("ru").gettext(
            "The fiscal register is out of paper: load a roll, then take the payment again.")
        assert refused.json["error"] == "fiscal_paper_out"
        state(register, paper=True)
        with central_db.read() as s:
            anna = s.scalars(select(Customer.id).where(Customer.name == "Anna Petrova")).one()
        sale = client.post("/api/v1/cart/checkout", json={
            **CASH, "receipt_email": "ivan@example.com", "customer_id": str(anna)}).json
        sync_now(db)
        with central_db.read() as s:
            row = s.scalars(select(CentralSale).where(
                CentralSale.receipt_no == sale["receipt_no"])).one()
            assert (row.fiscal_document_number, row.fiscal_sign, row.fiscal_drive_number) == (
                sale["fiscal_document_number"], sale["fiscal_sign"],
                sale["fiscal_drive_number"])
            assert row.receipt_email == "ivan@example.com"
            # The register sent this e-receipt through its OFD: central does not mail it.
            assert s.scalars(select(MailMessage)).all() == []
        panel = central_app.test_client().get(
            f"/api/v1/customers/{anna}/receipts/{sale['receipt_no']}",
            headers=staff_auth(seeded, "office"))
        assert panel.status_code == 200, panel.json
        assert panel.json["fiscal"] == {"document_number": sale["fiscal_document_number"],
                                        "fiscal_sign": sale["fiscal_sign"],
                                        "drive_number": sale["fiscal_drive_number"]}
    finally:
        app.extensions["kassa_db"].dispose()
        db.dispose()


def test_an_e_receipt_without_a_register_goes_from_centrals_outbox(tills, central_db):
    client, db = tills["pos-1"]
    sale = client.post("/api/v1/sales", json={"lines": [{"sku": "1001", "quantity": 1}],
                                              "receipt_email": "olga@example.com", **CASH})
    assert sale.status_code == 201, sale.json
    sync_now(db)
    with central_db.read() as s:
        (mail,) = s.scalars(select(MailMessage)).all()
    assert mail.to_address == "olga@example.com"
    assert sale.json["receipt_no"] in mail.subject
    assert "not a fiscal document" in mail.body


def test_the_badge_says_what_the_register_says(fiscal_till, register, stocked_node,
                                              node_db_url):
    """Issue 24: a till's devices show on its status badge. The register is asked in the
    background (a status is three tasks on it); the badge reads what was last found, in the
    till's language; a till without a register shows none."""
    from tests.integration.test_documents_locale import set_store
    watch = fiscal_till.application.extensions["kassa_fiscal_watch"]
    assert fiscal_till.get("/api/v1/status").json["fiscal"]["state"] == "unknown"
    assert watch.refresh()["state"] == "ready"
    state(register, paper=False)
    watch.refresh()
    assert fiscal_till.get("/api/v1/status").json["fiscal"]["state"] == "fiscal_paper_out"
    assert "register: out of paper" in fiscal_till.get("/").get_data(as_text=True)
    set_store(stocked_node, "ru")
    assert "ККТ: нет бумаги" in fiscal_till.get("/").get_data(as_text=True)
    state(register, paper=True)
    assert watch.refresh()["state"] == "ready"
    plain = create_node(NodeConfig(db_url=node_db_url, push_batch_size=200, http_timeout=2))
    assert plain.test_client().get("/api/v1/status").json["fiscal"]["state"] == "off"
    plain.extensions["kassa_db"].dispose()


def test_the_x_report_is_printed_by_the_register_too(fiscal_till, register):
    """Issue 24, item 3: the register's own X report, asked from the shift menu's "print the X
    report" (a till without a printer: the register prints it alone)."""
    assert fiscal_till.post("/api/v1/shifts/current/x-report", json={}).status_code == 202
    assert len(journal(register, "reportX")) == 1
    state(register, paper=False)
    refused = fiscal_till.post("/api/v1/shifts/current/x-report", json={})
    assert (refused.status_code, refused.json["error"]) == (409, "fiscal_paper_out")

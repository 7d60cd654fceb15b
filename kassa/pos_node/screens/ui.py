"""The cashier's screens: one server-rendered page per state (sign-in, open shift, sell) with
a little JavaScript that talks to the till's JSON API; receipts as HTML and PDF; the customer's
display (``/display``, see ``display_api``)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, render_template

from kassa.common.errors import Unauthorized
from kassa.pos_node.models import Store
from kassa.pos_node.replication.status import node_status
from kassa.pos_node.sale import receipts, sales, shifts
from kassa.pos_node.screens import devices_api
from kassa.pos_node.screens.card_api import with_customer
from kassa.pos_node.screens.schemas import SaleOutSchema
from kassa.pos_node.screens.signed_in import csrf_token, db, signed_in_user

# Templates and scripts stay in the app's own folders (kassa/pos_node/templates, static).
bp = Blueprint("ui", __name__, root_path=str(Path(__file__).resolve().parents[1]),
               template_folder="templates", static_folder="static",
               static_url_path="/static/till")


@bp.get("/")
def till():
    """The till: sign-in, then open a shift, then sell."""
    status = {**node_status(db(), current_app.config["KASSA"].sync_interval),
              "printer": devices_api.printer_status(), "fiscal": devices_api.fiscal_status()}
    with db().transaction() as s:
        node = sales.identity(s)
        store = s.get(Store, node.store_id)
        user = signed_in_user(s)
        shift = shifts.current(s)
        cart = with_customer(s, sales.open_cart(s)) if user else None
        page = {
            "store": store.name if store else f"Store {node.store_id}",
            "node_id": node.node_id, "user": user, "shift": shift,
            "cart": SaleOutSchema().dump(cart) if cart else None,
            "status": status, "csrf": csrf_token(),
        }
    if user is None:
        return render_template("signin.html", **page)
    if shift is None:
        return render_template("open_shift.html", **page)
    return render_template("till.html", **page)


@bp.get("/display")
def display():
    """The customer-facing display: a page that polls ``/api/v1/display/state``."""
    with db().read() as s:
        node = sales.identity(s)
        store = s.get(Store, node.store_id)
        name = store.name if store else f"Store {node.store_id}"
    return render_template("display.html", store=name)


def _receipt(receipt_no: str) -> receipts.ReceiptView:
    with db().transaction() as s:
        if signed_in_user(s) is None:
            raise Unauthorized("Sign in with your PIN first.", code="signed_out")
        return receipts.load(s, receipt_no)


@bp.get("/receipts/<receipt_no>")
def receipt_html(receipt_no: str):
    view = _receipt(receipt_no)
    return render_template("receipt.html", r=view, **receipts.helpers(view))


@bp.get("/receipts/<receipt_no>.pdf")
def receipt_pdf(receipt_no: str):
    view = _receipt(receipt_no)
    return Response(receipts.pdf(view), mimetype="application/pdf", headers={
        "Content-Disposition": f'inline; filename="receipt-{receipt_no}.pdf"'})

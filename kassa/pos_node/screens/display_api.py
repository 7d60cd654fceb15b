"""The customer-facing display at the till: what the customer may see of the sale in progress
(lines, total, their first name, points, the offer for them), then "thank you" with the new
balance, then the idle screen. Read from the node's own database only, so it works offline.

Who may watch: the display shows this till's sale (one till per node), read-only. It answers
a browser on the till's own machine (loopback, not through a proxy: the customer's monitor
hangs off the till PC, and the node listens on 127.0.0.1 by default) or one that carries a
signed-in till session (a second window of the cashier's browser). It needs no session of its
own, so the customer's screen holds no cashier's powers; and it answers only with what the
customer sees anyway: no cashier beyond a first name, no customer but the sale's, their first
name only, no other figures of the account.

Live by short polling with an ETag, not server-sent events: the node runs gunicorn with a few
threads (``kassa pos serve --threads 4``), and an event stream would hold one for as long as
the display is open; a poll every 300 ms that is answered 304 while nothing changed holds
none and costs one read of the open cart.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import marshmallow as ma
from flask import Response, request, session
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields
from sqlalchemy import select
from sqlalchemy.orm import Session

from kassa.common.db import utcnow
from kassa.common.errors import Forbidden
from kassa.loyalty.ledger import LedgerError
from kassa.loyalty.rules import FULL_BP, EarnLine, earn
from kassa.pos_node.cards import till_loyalty
from kassa.pos_node.models import LoyaltyAccount, Product, Sale, Store, User
from kassa.pos_node.sale import sales
from kassa.pos_node.screens.card_api import with_customer
from kassa.pos_node.screens.schemas import quantity_text
from kassa.pos_node.screens.signed_in import db

bp = Blueprint("display", __name__, url_prefix="/api/v1",
               description="The customer-facing display (read-only)")

THANKS_FOR = timedelta(seconds=6)  # "thank you" stays this long after payment, then idle


class DisplayLineSchema(ma.Schema):
    name = fields.String()
    quantity = fields.String()
    unit = fields.String()
    unit_price_minor = fields.Integer()
    discount_minor = fields.Integer()
    amount_minor = fields.Integer()
    offer = fields.Boolean(metadata={"description": "taken under the customer's offer"})


class DisplayCustomerSchema(ma.Schema):
    first_name = fields.String()
    tier = fields.String()
    balance = fields.Integer(metadata={"description": "points now"})
    points_earned = fields.Integer(metadata={"description": "what this sale earns as it is"})
    points_spendable = fields.Integer(metadata={
        "description": "what may pay part of this sale (0: card not in the reader)"})


class DisplayOfferSchema(ma.Schema):
    name = fields.String()
    discount_bp = fields.Integer()
    price_minor = fields.Integer()
    offer_price_minor = fields.Integer()


class DisplayThanksSchema(ma.Schema):
    receipt_no = fields.String()
    total_minor = fields.Integer()
    change_minor = fields.Integer()
    first_name = fields.String(allow_none=True)
    points_earned = fields.Integer()
    points_burned = fields.Integer()
    balance = fields.Integer(allow_none=True, metadata={"description": "points after the sale"})


class DisplayStateSchema(ma.Schema):
    version = fields.String(metadata={"description": "changes whenever anything shown does; "
                                      "also the ETag"})
    phase = fields.String(metadata={"description": "idle | cart | thanks"})
    store = fields.String()
    cashier = fields.String(allow_none=True, metadata={"description": "first name"})
    lines = fields.List(fields.Nested(DisplayLineSchema))
    discount_minor = fields.Integer()
    total_minor = fields.Integer()
    points_burned = fields.Integer()
    points_value_minor = fields.Integer()
    to_pay_minor = fields.Integer()
    customer = fields.Nested(DisplayCustomerSchema, allow_none=True)
    offers = fields.List(fields.Nested(DisplayOfferSchema))
    thanks = fields.Nested(DisplayThanksSchema, allow_none=True)


def _may_watch() -> bool:
    proxied = ("X-Forwarded-For" in request.headers
               and "werkzeug.proxy_fix.orig" not in request.environ)
    local = not proxied and request.remote_addr in ("127.0.0.1", "::1")
    return local or isinstance(session.get("uid"), int)


def _first_name(name: str | None) -> str | None:
    return (name or "").split(" ")[0] or None


def points_earned(s: Session, sale: Sale) -> int:
    """What the sale earns as it stands (what ``till_loyalty.earn_for_sale`` will write when it is
    paid), without touching the sale."""
    account = s.get(LoyaltyAccount, sale.account_id) if sale.account_id else None
    if account is None or not sale.lines:
        return 0
    categories = dict(s.execute(select(Product.id, Product.category).where(
        Product.id.in_({ln.product_id for ln in sale.lines}))).all())
    lines = [EarnLine(ln.line_no, ln.product_id, categories.get(ln.product_id), ln.amount_minor)
             for ln in sale.lines]
    try:
        return sum(earn(till_loyalty.rules(s).earning, account.tier, lines,
                        min(sale.points_value_minor, sale.total_minor), utcnow(),
                        account.balance + till_loyalty.pending_points(s, account.id)).values())
    except LedgerError:
        return 0


def points_spendable(s: Session, sale: Sale, balance: int) -> int:
    """The most points that may pay part of the sale: only with the card in the reader."""
    if sale.card_number is None or sale.points_burned:
        return 0
    rules = till_loyalty.rules(s).redemption
    most = min(balance, sale.total_minor * rules.max_share_bp // FULL_BP // rules.minor_per_point)
    return most if most >= rules.min_points else 0


def _cart(s: Session, sale: Sale) -> dict:
    sale = with_customer(s, sale)
    customer = None
    if sale.customer:
        balance = sale.customer["balance"]
        customer = {"first_name": _first_name(sale.customer["name"]),
                    "tier": sale.customer["tier"], "balance": balance,
                    "points_earned": points_earned(s, sale),
                    "points_spendable": points_spendable(s, sale, balance)}
    return {
        "lines": [{"name": ln.name, "quantity": quantity_text(ln), "unit": ln.unit,
                   "unit_price_minor": ln.unit_price_minor, "discount_minor": ln.discount_minor,
                   "amount_minor": ln.amount_minor, "offer": ln.offer_id is not None}
                  for ln in sale.lines],
        "discount_minor": sale.discount_minor, "total_minor": sale.total_minor,
        "points_burned": sale.points_burned, "points_value_minor": sale.points_value_minor,
        "to_pay_minor": sale.total_minor - sale.points_value_minor, "customer": customer,
        "offers": [{k: o[k] for k in ("name", "discount_bp", "price_minor", "offer_price_minor")}
                   for o in sale.offers or []],
    }


def _thanks(s: Session) -> dict | None:
    """The sale paid last, while it is recent enough to thank for and no sale began since."""
    sale = s.scalars(select(Sale).where(Sale.status == "completed", Sale.sold_at.is_not(None))
                     .order_by(Sale.sold_at.desc()).limit(1)).first()
    # The query asks for a time: the ``None`` test is for the type checker.
    if sale is None or sale.sold_at is None or utcnow() - sale.sold_at > THANKS_FOR:
        return None
    if s.scalar(select(Sale.id).where(Sale.status == "voided", Sale.started_at > sale.sold_at)
                .limit(1)) is not None:
        return None  # the next customer's sale came and went: not them to thank
    account = till_loyalty.by_customer(s, sale.customer_id) if sale.customer_id else None
    return {"receipt_no": sale.receipt_no, "total_minor": sale.total_minor,
            "change_minor": sale.change_minor,
            "first_name": _first_name(account.name) if account else None,
            "points_earned": sum(ln.points_earned for ln in sale.lines),
            "points_burned": sale.points_burned,
            "balance": account.balance if account else None}


def display_state(s: Session) -> dict:
    node = sales.identity(s)
    store = s.get(Store, node.store_id)
    sale = sales.open_cart(s)
    cashier = s.get(User, sale.cashier_id) if sale and sale.cashier_id else None
    state: dict[str, Any] = {
        "store": store.name if store else f"Store {node.store_id}",
        "cashier": _first_name(cashier.full_name) if cashier else None,
        "lines": [], "discount_minor": 0, "total_minor": 0, "points_burned": 0,
        "points_value_minor": 0, "to_pay_minor": 0, "customer": None, "offers": [],
        "thanks": None}
    if sale is not None and (sale.lines or sale.customer_id):
        state.update(_cart(s, sale), phase="cart")
    else:
        state["thanks"] = _thanks(s)
        state["phase"] = "thanks" if state["thanks"] else "idle"
    state["version"] = hashlib.sha256(
        json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return state


@bp.route("/display/state")
class DisplayState(MethodView):
    @bp.response(200, DisplayStateSchema)
    @bp.alt_response(304, description="nothing changed since the ETag given in If-None-Match")
    def get(self):
        """What the customer's display shows now. Answered to the till's own machine or a
        signed-in till session; 304 while nothing changed since ``If-None-Match``."""
        if not _may_watch():
            raise Forbidden("The customer display is shown on the till's own machine.",
                            code="display_not_local")
        with db().read() as s:
            state = display_state(s)
        if state["version"] in request.if_none_match:
            return Response(status=304, headers={"ETag": f'"{state["version"]}"',
                                                 "Cache-Control": "no-cache"})
        return state, 200, {"ETag": f'"{state["version"]}"', "Cache-Control": "no-cache"}

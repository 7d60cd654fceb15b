"""Adding a scanned item to the open cart: the till's hottest path, in SQLAlchemy Core.

Every scan reads the cart's lines as plain rows, re-prices them with the pure ``cart.price``
and writes back only what changed, in one transaction of a handful of statements; no ORM
objects are built. Its answer is the cart as the API shows it, with the customer's personal
offers (``offers``; a cart without a customer reads nothing more for them). The rarer cart
changes (quantity, discounts, removal) go through the ORM in ``sales``.
"""

from __future__ import annotations

import uuid

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from kassa.common.db import utcnow
from kassa.pos_node.devices.fiscal import pending
from kassa.pos_node.models import Sale, SaleLine, User
from kassa.pos_node.sale import cart, catalog, offers, shifts

_LINE_COLUMNS = ("line_no", "product_id", "sku", "name", "unit", "quantity_milli",
                 "unit_price_minor", "line_discount_bp", "gross_minor", "promotion_id",
                 "discount_minor", "amount_minor", "vat_rate_bp", "vat_minor", "offer_id",
                 "offer_discount_bp")
# The open cart and its lines in one query (a cart without lines gives one row of NULLs).
_CART = (select(Sale.id, Sale.receipt_discount_bp, Sale.started_at, Sale.customer_id,
                Sale.fiscal_task_id, *(getattr(SaleLine, c) for c in _LINE_COLUMNS))
         .outerjoin(SaleLine, SaleLine.sale_id == Sale.id)
         .where(Sale.status == "open").order_by(SaleLine.line_no))
_PRICED = ("gross_minor", "promotion_id", "discount_minor", "amount_minor", "vat_minor")
# What a scan may change on a line already in the cart (an offer it no longer stands under).
_CHANGED = ("quantity_milli", "offer_id", "offer_discount_bp") + _PRICED
_UPDATE_LINE = (update(SaleLine)
                .where(SaleLine.sale_id == bindparam("b_sale"),
                       SaleLine.line_no == bindparam("b_line"))
                .values({c: bindparam(c) for c in _CHANGED}))


def add_scanned(session: Session, user: User, store_id: int, feed_cursor: int,
                lookup: dict, quantity_milli: int) -> dict:
    item = catalog.find(session, store_id, **lookup)
    conn = session.connection()
    rows = conn.execute(_CART).all()
    if not rows:
        shift = shifts.require_open(session)
        sale_id, receipt_bp, started, customer_id = uuid.uuid4(), 0, utcnow(), None
        conn.execute(insert(Sale).values(
            id=sale_id, status="open", shift_id=shift.id, cashier_id=user.id,
            started_at=started, receipt_discount_bp=0, gross_minor=0, discount_minor=0,
            total_minor=0, vat_minor=0, change_minor=0))
        lines: list[dict] = []
    else:
        sale_id, receipt_bp, started, customer_id, fiscal_task = rows[0][:5]
        if fiscal_task is not None:
            raise pending()
        lines = [dict(zip(_LINE_COLUMNS, r[5:], strict=True)) for r in rows
                 if r.line_no is not None]
    cart.check_quantity(item, quantity_milli, len(lines) + 1)
    before = {ln["line_no"]: tuple(ln[c] for c in _CHANGED) for ln in lines}
    in_cart = {ln["product_id"] for ln in lines}
    seen = offers.shown(session, sale_id) if customer_id is not None else []
    # The offers standing for the cart with this scan in it: a line under one that no longer
    # does (switched off, consent withdrawn) goes back to the shelf price.
    live = (offers.standing(session, customer_id, in_cart | {item.product_id}, feed_cursor, seen)
            if seen else {})
    for ln, keep in zip(lines, offers.kept(live, [(ln["offer_id"], ln["product_id"])
                                                  for ln in lines]), strict=True):
        if ln["offer_id"] is not None and not keep:
            ln["offer_id"], ln["offer_discount_bp"] = None, 0
    # Scanned while the customer's offer of it stands: one unit is taken under the offer
    # (``cart.offer_quantity``), any more counts up a line at the shelf price as usual.
    taken = offers.line_offer(live, item.product_id, in_cart)
    rest = quantity_milli
    if taken is not None:
        rest -= cart.offer_quantity(item.unit, quantity_milli)
        _append(lines, item, quantity_milli - rest, taken)
    same = [ln for ln in lines if ln["product_id"] == item.product_id and ln["unit"] != "kg"
            and ln["unit_price_minor"] == item.unit_price_minor and not ln["line_discount_bp"]
            and ln["offer_id"] is None]
    if rest and same and item.unit != "kg":
        same[0]["quantity_milli"] += rest  # scanning again counts up
    elif rest:
        _append(lines, item, rest, None)
    priced = cart.price(
        [cart.Entry(cart.Item(ln["product_id"], ln["sku"], ln["name"], ln["unit"],
                              ln["vat_rate_bp"], ln["unit_price_minor"]),
                    ln["quantity_milli"], ln["line_discount_bp"], ln["offer_id"],
                    ln["offer_discount_bp"]) for ln in lines],
        catalog.active_promotions(session, feed_cursor), receipt_bp)
    for ln, p in zip(lines, priced.lines, strict=True):
        ln.update(gross_minor=p.gross_minor, promotion_id=p.promotion_id,
                  discount_minor=p.discount_minor, amount_minor=p.amount_minor,
                  vat_minor=p.vat_minor)
    new = [ln for ln in lines if ln["line_no"] not in before]
    changed = [ln for ln in lines if ln["line_no"] in before
               and before[ln["line_no"]] != tuple(ln[c] for c in _CHANGED)]
    if new:
        conn.execute(insert(SaleLine), [{**ln, "sale_id": sale_id} for ln in new])
    if changed:
        conn.execute(_UPDATE_LINE, [{"b_sale": sale_id, "b_line": ln["line_no"],
                                     **{c: ln[c] for c in _CHANGED}} for ln in changed])
    totals = {"gross_minor": priced.gross_minor, "discount_minor": priced.discount_minor,
              "total_minor": priced.total_minor, "vat_minor": priced.vat_minor}
    conn.execute(update(Sale).where(Sale.id == sale_id).values(**totals))
    shown = offers.current(session, sale_id, customer_id, [ln["product_id"] for ln in lines],
                           store_id, feed_cursor, record=True, seen=seen)
    return {"id": sale_id, "status": "open", "receipt_no": None, "started_at": started,
            "sold_at": None, "receipt_discount_bp": receipt_bp, "change_minor": 0,
            "lines": lines, "payments": [], "offers": shown, **totals}


def _append(lines: list[dict], item: cart.Item, quantity_milli: int,
            offer: offers.Shown | None) -> None:
    lines.append({"line_no": len(lines) + 1, "product_id": item.product_id, "sku": item.sku,
                  "name": item.name, "unit": item.unit, "quantity_milli": quantity_milli,
                  "unit_price_minor": item.unit_price_minor, "line_discount_bp": 0,
                  "vat_rate_bp": item.vat_rate_bp,
                  "offer_id": offer.offer_id if offer else None,
                  "offer_discount_bp": offer.discount_bp if offer else 0})

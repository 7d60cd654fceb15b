"""Personal offers at the till: which offers the open cart's customer gets, which of them were
shown, the offer a scanned line is taken under, and the ``offer.shown`` facts when the cart ends.

Everything is read from the replica (``offers``, ``offer_profiles``), so offers work offline.
The choice is ``cart.choose_offers`` (pure). An offer is recorded (``offer_exposures``) the
first time a cart shows it; a held-out customer is shown nothing, but what they would have been
shown is recorded the same way, so the offers' uplift can be measured against them. A line
takes an offer when its product is scanned after the offer was shown to the cart's customer:
the line carries the offer's id and discount from then on, and that is what "accepted" means.
When the cart is paid or voided, each exposure goes up as one ``offer.shown`` event in the
sale's (or the void's) own transaction, and the till forgets it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import NamedTuple

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.orm import Session

from kassa.common.db import utcnow
from kassa.common.errors import KassaError
from kassa.pos_node import cart, catalog
from kassa.pos_node.models import Offer, OfferExposure, OfferProfile, Sale
from kassa.sync.outbox import append_event


class Shown(NamedTuple):
    """An offer the cart showed, as it was shown."""

    offer_id: int
    customer_id: uuid.UUID
    product_id: int
    discount_bp: int
    held_out: bool


_SHOWN = (select(OfferExposure.offer_id, OfferExposure.customer_id, OfferExposure.product_id,
                 OfferExposure.discount_bp, OfferExposure.held_out)
          .where(OfferExposure.sale_id == bindparam("sale")))
_PROFILE = (select(OfferProfile.segment, OfferProfile.offers_ok, OfferProfile.held_out)
            .where(OfferProfile.customer_id == bindparam("customer")))


def shown(session: Session, sale_id: uuid.UUID) -> list[Shown]:
    return [Shown(*row) for row in session.execute(_SHOWN, {"sale": sale_id})]


def profile(session: Session, customer_id: uuid.UUID) -> cart.OfferProfile | None:
    """The customer's offer profile; None (no offers) until central sends one, which it does
    only for customers who consented."""
    row = session.execute(_PROFILE, {"customer": customer_id}).first()
    return None if row is None else cart.OfferProfile(*row)


# Offers change only when the change feed is applied, which moves the feed cursor: the active
# ones are cached per database and cursor (as promotions are), so a scan does not re-read them.
_rules: dict[str, tuple[int, list[cart.OfferRule]]] = {}


def active_rules(session: Session, feed_cursor: int) -> list[cart.OfferRule]:
    key = str(session.get_bind().url)
    cached = _rules.get(key)
    if cached is None or cached[0] != feed_cursor:
        cached = (feed_cursor, [
            cart.OfferRule(o.id, o.product_id, frozenset(o.trigger_product_ids), o.discount_bp,
                           None if o.segments is None else frozenset(o.segments))
            for o in session.scalars(select(Offer).where(Offer.active))])
        _rules[key] = cached
    return cached[1]


def current(session: Session, sale_id: uuid.UUID, customer_id: uuid.UUID | None,
            product_ids: Iterable[int], store_id: int, feed_cursor: int, *, record: bool,
            seen: list[Shown] | None = None) -> list[dict]:
    """The offers the cashier sees for the cart now, best first, at most ``cart.MAX_OFFERS``
    (offers of products the till cannot sell are passed over). With ``record`` an offer shown
    for the first time is recorded; without (a read) only offers already recorded are shown.
    ``seen``: the cart's exposures, when the caller has read them already."""
    if customer_id is None:
        return []
    who = profile(session, customer_id)
    candidates = cart.choose_offers(active_rules(session, feed_cursor), who, set(product_ids))
    if not candidates:
        return []
    seen = shown(session, sale_id) if seen is None else seen
    known = {s.offer_id for s in seen if s.customer_id == customer_id}
    answer, new = [], []
    for rule in candidates:
        if rule.id not in known and not record:
            continue
        try:
            item = catalog.find(session, store_id, product_id=rule.product_id)
        except KassaError:  # no longer sold here, or no price at this store
            continue
        if rule.id not in known:
            new.append(rule)
        answer.append({"offer_id": rule.id, "product_id": item.product_id, "sku": item.sku,
                       "name": item.name, "unit": item.unit, "discount_bp": rule.discount_bp,
                       "price_minor": item.unit_price_minor,
                       "offer_price_minor": cart.offer_price(item.unit_price_minor,
                                                             rule.discount_bp)})
        if len(answer) == cart.MAX_OFFERS:
            break
    if new:
        now = utcnow()
        session.connection().execute(insert(OfferExposure), [
            {"id": uuid.uuid4(), "sale_id": sale_id, "offer_id": r.id, "customer_id": customer_id,
             "product_id": r.product_id, "discount_bp": r.discount_bp, "held_out": who.held_out,
             "shown_at": now} for r in new])
    return [] if who.held_out else answer


def line_offer(seen: list[Shown], customer_id: uuid.UUID | None, product_id: int,
               taken: set[int]) -> Shown | None:
    """The offer a newly scanned line of ``product_id`` is taken under: one this cart showed
    its customer for that product (never to a held-out customer: they were shown nothing) that
    no line holds yet."""
    for s in seen:
        if (s.customer_id == customer_id and s.product_id == product_id and not s.held_out
                and s.offer_id not in taken):
            return s
    return None


# --- the ORM's cart ------------------------------------------------------------------------------

def refresh(session: Session, sale: Sale, store_id: int, feed_cursor: int,
            record: bool = True) -> list[dict]:
    """``current`` for a cart the ORM holds; kept on the sale for the API's answer."""
    sale.offers = current(session, sale.id, sale.customer_id,
                          [ln.product_id for ln in sale.lines], store_id, feed_cursor,
                          record=record)
    return sale.offers


def take_lines_back(sale: Sale) -> bool:
    """The cart's customer changed: lines taken under the previous customer's offers go back
    to the shelf price (an offer is personal). True when a line changed (the cart needs
    repricing)."""
    changed = False
    for line in sale.lines:
        if line.offer_id is not None:
            line.offer_id, line.offer_discount_bp = None, 0
            changed = True
    return changed


def emit(session: Session, sale: Sale) -> int:
    """Send each exposure of a cart that ended up as one ``offer.shown`` event and forget it.
    A paid cart names its sale and whether the offer was accepted: the line was taken under
    the offer, or, for a held-out customer, the product was bought anyway at its price. A
    voided cart names no sale and accepts nothing. Returns how many went up."""
    rows = session.scalars(select(OfferExposure).where(OfferExposure.sale_id == sale.id)
                           .order_by(OfferExposure.shown_at, OfferExposure.offer_id)).all()
    if not rows:
        return 0
    paid = sale.status == "completed"
    for e in rows:
        theirs = paid and e.customer_id == sale.customer_id
        if e.held_out:
            accepted = theirs and any(ln.product_id == e.product_id for ln in sale.lines)
        else:
            accepted = theirs and any(ln.offer_id == e.offer_id for ln in sale.lines)
        append_event(session, "offer.shown", {
            "exposure_id": e.id, "offer_id": e.offer_id, "customer_id": e.customer_id,
            "held_out": e.held_out, "at": e.shown_at, "sale_id": sale.id if paid else None,
            "accepted": accepted})
    session.execute(delete(OfferExposure).where(OfferExposure.sale_id == sale.id))
    return len(rows)

"""Personal offers at the till: which offers the open cart's customer gets, which of them were
shown, the offer a scanned line is taken under, and the ``offer.shown`` facts when the cart ends.

Everything is read from the replica (``offers``, ``offer_profiles``), so offers work offline.
The choice is ``cart.choose_offers`` (pure). An offer is recorded (``offer_exposures``) the
first time a cart shows it; a held-out customer is shown nothing, but what they would have been
shown is recorded the same way, so the offers' uplift can be measured against them. A line
takes an offer when its product is scanned while the offer stands (``standing``: shown to the
cart's customer and still holding for the cart as it is), for one unit
(``cart.offer_quantity``). The line carries the offer's id and discount while the offer
stands, and that is what "accepted" means: every change of the cart asks again
(``recheck_lines``), and a line whose offer no longer holds goes back to the shelf price.
When the cart is paid or voided, each exposure goes up as one ``offer.shown`` event in the
sale's (or the void's) own transaction, and the till forgets it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import NamedTuple, cast

from sqlalchemy import Engine, bindparam, delete, insert, select
from sqlalchemy.orm import Session

from kassa.common.db import utcnow
from kassa.common.errors import KassaError
from kassa.pos_node.models import Offer, OfferExposure, OfferProfile, Sale, SaleLine
from kassa.pos_node.replication.outbox import append_event
from kassa.pos_node.sale import cart, catalog


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
    # The till's sessions are bound to its engine (``Database``), never to one connection.
    key = str(cast(Engine, session.get_bind()).url)
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
    if not candidates or who is None:  # without a profile nothing is chosen
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


def standing(session: Session, customer_id: uuid.UUID | None, product_ids: Iterable[int],
             feed_cursor: int, seen: list[Shown]) -> dict[int, Shown]:
    """The offers a line of the cart may be under now, by offer id: each one the cart showed
    its customer (a held-out customer was shown nothing) that would still be chosen for the
    cart and the profile as they are now (``cart.offer_applies``): still active at central,
    the customer still consenting (a withdrawn consent: no profile) and of its segments, every
    trigger product in the cart. The screen's limit of two is not asked again: an offer the
    cashier read out stays good while it holds. ``seen``: the cart's exposures."""
    mine = [s for s in seen if s.customer_id == customer_id and not s.held_out]
    if customer_id is None or not mine:
        return {}
    who = profile(session, customer_id)
    if who is None or who.held_out:
        return {}
    in_cart = set(product_ids)
    rules = {r.id: r for r in active_rules(session, feed_cursor)}
    return {s.offer_id: s for s in mine
            if (rule := rules.get(s.offer_id)) is not None and rule.product_id == s.product_id
            and cart.offer_applies(rule, who, in_cart)}


def line_offer(live: dict[int, Shown], product_id: int, in_cart: set[int]) -> Shown | None:
    """The offer a newly scanned line of ``product_id`` is taken under: a standing one for
    that product (the largest discount), while the product is not in the cart yet. Once it is,
    the offer was taken (one unit per offer) or its line lost it, and the screen no longer
    shows it."""
    if product_id in in_cart:
        return None
    return max((s for s in live.values() if s.product_id == product_id),
               key=lambda s: (s.discount_bp, -s.offer_id), default=None)


def kept(live: dict[int, Shown], lines: Iterable[tuple[int | None, int]]) -> list[bool]:
    """For the cart's lines in order, as ``(offer_id, product_id)``: whether a line under an
    offer keeps it, which it does while the offer stands (the first line holding it only)."""
    answer, held = [], set()
    for offer_id, product_id in lines:
        keep = (offer_id is not None and offer_id in live and offer_id not in held
                and live[offer_id].product_id == product_id)
        if keep:
            held.add(offer_id)
        answer.append(keep)
    return answer


# --- the ORM's cart ------------------------------------------------------------------------------

def refresh(session: Session, sale: Sale, store_id: int, feed_cursor: int,
            record: bool = True) -> list[dict]:
    """``current`` for a cart the ORM holds; kept on the sale for the API's answer. After a
    change of the cart (``record``), ``sales.refresh_offers`` checks its offer lines again
    (``recheck_lines``) and reprices it before calling this."""
    sale.offers = current(session, sale.id, sale.customer_id,
                          [ln.product_id for ln in sale.lines], store_id, feed_cursor,
                          record=record)
    return sale.offers


def recheck_lines(session: Session, sale: Sale, feed_cursor: int) -> bool:
    """A change of the cart (or of the offers and profiles under it): a line keeps its offer
    only while the offer stands (``standing``, ``kept``), and for one unit. A line whose
    offer no longer holds goes back to the shelf price; its exposure stays, not accepted
    unless the product is scanned again under the offer. A line of pieces under an offer
    holding more than one keeps one; the rest joins a line of the product at the same price
    and discount without an offer, or makes one. True when a line changed (the cart needs
    repricing)."""
    lines = sorted(sale.lines, key=lambda ln: ln.line_no)
    if all(ln.offer_id is None for ln in lines):
        return False
    live = standing(session, sale.customer_id, [ln.product_id for ln in lines], feed_cursor,
                    shown(session, sale.id))
    changed = False
    for line, keep in zip(lines, kept(live, [(ln.offer_id, ln.product_id) for ln in lines]),
                          strict=True):
        if line.offer_id is None:
            continue
        if not keep:
            line.offer_id, line.offer_discount_bp = None, 0
            changed = True
            continue
        more = line.quantity_milli - cart.offer_quantity(line.unit, line.quantity_milli)
        if more:
            line.quantity_milli -= more
            _shelf_line(sale, line).quantity_milli += more
            changed = True
    return changed


def _shelf_line(sale: Sale, line: SaleLine) -> SaleLine:
    """The line without an offer that more of ``line``'s product joins (a new one if none)."""
    for other in sale.lines:
        if (other.offer_id is None and other.product_id == line.product_id
                and other.unit_price_minor == line.unit_price_minor
                and other.line_discount_bp == line.line_discount_bp):
            return other
    other = SaleLine(line_no=max(ln.line_no for ln in sale.lines) + 1,
                     product_id=line.product_id, sku=line.sku, name=line.name, unit=line.unit,
                     quantity_milli=0, unit_price_minor=line.unit_price_minor, gross_minor=0,
                     line_discount_bp=line.line_discount_bp, discount_minor=0, amount_minor=0,
                     vat_rate_bp=line.vat_rate_bp, vat_minor=0, points_earned=0,
                     offer_id=None, offer_discount_bp=0)
    sale.lines.append(other)
    return other


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

"""Selling at the till: the cart, checkout, voids and post-voids, each one local transaction.

The open cart is a ``Sale`` in status ``open`` with its lines, so a till that restarts finds
the customer's basket where it was. Prices are frozen when an item is scanned; promotions
and discounts are re-applied by ``cart.price`` (pure) after every change, and the customer's
personal offers chosen again (``offers``). Completing writes the receipt number, the payments
and the outbox events together; nothing waits on the network.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import NamedTuple
from uuid import UUID

from sqlalchemy import insert, inspect, select
from sqlalchemy.orm import Session, joinedload, lazyload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from kassa.common.db import utcnow
from kassa.common.errors import Conflict, KassaError, NotFound
from kassa.common.money import format_minor
from kassa.pos_node.cards import till_loyalty
from kassa.pos_node.devices import print_queue
from kassa.pos_node.devices.fiscal import (
    FiscalDocument,
    FiscalLine,
    FiscalReceipt,
    FiscalRegister,
    pending,
    reference,
)
from kassa.pos_node.models import NodeIdentity, Payment, Return, Sale, SaleLine, Shift, User
from kassa.pos_node.replication.outbox import append_event, next_counter
from kassa.pos_node.sale import approvals, cart, catalog, offers, scanning, shifts, staff


@dataclass(frozen=True)
class LineRequest:
    quantity_milli: int
    sku: str | None = None
    barcode: str | None = None
    product_id: int | None = None

    @property
    def lookup(self) -> tuple[str, str | int | None]:
        """(kind, key) for ``catalog.find_many``."""
        if self.barcode is not None:
            return "barcode", self.barcode
        if self.sku is not None:
            return "sku", self.sku
        return "product_id", self.product_id


class NodeNotInitialized(KassaError):
    status = 503
    code = "node_not_initialized"


class NodeInfo(NamedTuple):
    node_id: str
    store_id: int
    feed_cursor: int


_NODE_INFO = select(NodeIdentity.node_id, NodeIdentity.store_id, NodeIdentity.feed_cursor)


def identity(session: Session) -> NodeInfo:
    """Who this till is (and how far its replica has read), once per unit of work."""
    node = session.info.get("node_info")
    if node is None:
        row = session.execute(_NODE_INFO).first()
        if row is None:
            raise NodeNotInitialized(
                "This node has not been set up: run `kassa pos init` first.")
        node = session.info["node_info"] = NodeInfo(*row)
    return node


# --- the open cart -----------------------------------------------------------------------------

_OPEN_CART = (select(Sale).where(Sale.status == "open")
              .options(joinedload(Sale.lines), lazyload(Sale.payments)))


def open_cart(session: Session) -> Sale | None:
    sale = session.scalars(_OPEN_CART).unique().first()
    if sale is not None:
        set_committed_value(sale, "payments", [])  # an open sale has none until it is paid
    return sale


def require_cart(session: Session, editable: bool = True) -> Sale:
    """The sale in progress; ``editable``: to change it, which a receipt sent to the fiscal
    register without an answer forbids (the register may hold it as it stands)."""
    sale = open_cart(session)
    if sale is None:
        raise NotFound("There is no sale in progress.", code="no_open_sale")
    if editable and sale.fiscal_task_id is not None:
        raise pending()
    return sale



def start_cart(session: Session, user: User) -> Sale:
    """The sale in progress, or a new empty one (a customer showing their card first)."""
    sale = open_cart(session)
    if sale is None:
        shift = shifts.require_open(session)
        sale = Sale(id=uuid.uuid4(), status="open", shift_id=shift.id, cashier_id=user.id,
                    started_at=utcnow(), receipt_discount_bp=0, points_burned=0,
                    points_value_minor=0, points_offline=False)
        session.add(sale)
        session.flush()
        set_committed_value(sale, "lines", [])
        set_committed_value(sale, "payments", [])
    return sale


def _line(sale: Sale, line_no: int) -> SaleLine:
    for line in sale.lines:
        if line.line_no == line_no:
            return line
    raise NotFound("The sale has no line %(line_no)s.", code="no_such_line", line_no=line_no)


def _entry(line: SaleLine) -> cart.Entry:
    item = cart.Item(line.product_id, line.sku, line.name, line.unit, line.vat_rate_bp,
                     line.unit_price_minor)
    return cart.Entry(item, line.quantity_milli, line.line_discount_bp, line.offer_id,
                      line.offer_discount_bp)


def reprice(session: Session, sale: Sale, *, allow_empty: bool = True) -> cart.PricedSale:
    """Apply promotions and discounts to the stored lines and write the amounts back."""
    for n, line in enumerate(sorted(sale.lines, key=lambda ln: ln.line_no), start=1):
        line.line_no = n
    promotions = catalog.active_promotions(session, identity(session).feed_cursor)
    priced = cart.price([_entry(ln) for ln in sorted(sale.lines, key=lambda ln: ln.line_no)],
                        promotions, sale.receipt_discount_bp, allow_empty=allow_empty)
    for line, p in zip(sorted(sale.lines, key=lambda ln: ln.line_no), priced.lines, strict=True):
        line.gross_minor, line.promotion_id = p.gross_minor, p.promotion_id
        line.discount_minor, line.amount_minor = p.discount_minor, p.amount_minor
        line.vat_minor = p.vat_minor
    sale.gross_minor, sale.discount_minor = priced.gross_minor, priced.discount_minor
    sale.total_minor, sale.vat_minor = priced.total_minor, priced.vat_minor
    return priced


def add_item(session: Session, user: User, req: LineRequest) -> dict:
    """Add a scanned, keyed or picked item to the open cart (opening one if needed); the
    answer is the cart as the API shows it. See ``scanning`` for why this path is Core."""
    node = identity(session)
    kind, key = req.lookup
    return scanning.add_scanned(session, user, node.store_id, node.feed_cursor, {kind: key},
                                req.quantity_milli)


def _check_discount(session: Session, user: User, sale: Sale, bp: int, subject: str,
                    override: staff.OverrideRequest | None,
                    authorization_id: UUID | None) -> None:
    """Within the cashier's limit: alone; within the store manager's: their override; beyond:
    central's authorization, whose id the sale keeps."""
    central = approvals.require(session, "discount", bp, subject, authorization_id)
    if central is not None:
        sale.authorization_id = central.id
        return
    limit = staff.limits(session, user.role).max_discount_bp
    staff.authorize(session, identity(session).store_id, user, "discount", subject, bp > limit,
                    staff.OverrideRequired(
                        "A discount of %(discount)s %% is over the %(limit)s %% limit. A store "
                        "manager must approve.", discount=format(bp / 100, "g"),
                        limit=format(limit / 100, "g")),
                    override)


def _shelf_price(session: Session, line: SaleLine) -> int:
    return catalog.find(session, identity(session).store_id,
                        product_id=line.product_id).unit_price_minor


def _cut_bp(shelf: int, price: int, discount_bp: int) -> int:
    """How far under the shelf price a line ends, price override and line discount together,
    in basis points rounded up: the two are one discount for the limits."""
    if shelf <= 0:
        return 0
    paid = price * (10_000 - discount_bp)  # in shelf-price units x 10,000
    return max(0, 10_000 - paid // shelf)


def _check_price(session: Session, user: User, sale: Sale, line: SaleLine, price: int,
                 override: staff.OverrideRequest | None,
                 authorization_id: UUID | None) -> None:
    """A price typed over the shelf's: a cut is a discount (the cashier's limit, the store
    manager's, then central's, as ``_check_discount``), counted with the line's discount; a
    raise needs a store manager."""
    shelf = _shelf_price(session, line)
    subject = (f"line {line.line_no} {line.sku}: price {format_minor(shelf)} -> "
               f"{format_minor(price)}")
    if price > shelf:
        staff.authorize(session, identity(session).store_id, user, "price_override", subject,
                        user.role != "store_manager",
                        staff.OverrideRequired(
                            "Raising a shelf price. A store manager must approve."), override)
        return
    bp = _cut_bp(shelf, price, line.line_discount_bp)
    central = approvals.require(session, "price_override", bp, subject, authorization_id)
    if central is not None:
        sale.authorization_id = central.id
        return
    limit = staff.limits(session, user.role).max_discount_bp
    staff.authorize(session, identity(session).store_id, user, "price_override", subject,
                    bp > limit, staff.OverrideRequired(
                        "A price %(cut)s %% under the shelf's is over the %(limit)s %% limit. "
                        "A store manager must approve.", cut=format(bp / 100, "g"),
                        limit=format(limit / 100, "g")), override)


def update_line(session: Session, user: User, line_no: int, *, quantity_milli: int | None = None,
                discount_bp: int | None = None, unit_price_minor: int | None = None,
                override: staff.OverrideRequest | None = None,
                authorization_id: UUID | None = None) -> Sale:
    sale = require_cart(session)
    line = _line(sale, line_no)
    if unit_price_minor is not None and unit_price_minor != line.unit_price_minor:
        _check_price(session, user, sale, line, unit_price_minor, override, authorization_id)
        line.unit_price_minor = unit_price_minor
    if quantity_milli is not None:
        cart.check_quantity(_entry(line).item, quantity_milli, line_no)
        line.quantity_milli = quantity_milli
    if discount_bp is not None and discount_bp != line.line_discount_bp:
        # On a line whose price was cut, the limit applies to both cuts together.
        shelf = _shelf_price(session, line) if line.unit_price_minor else 0
        total = (_cut_bp(shelf, line.unit_price_minor, discount_bp)
                 if shelf > line.unit_price_minor else discount_bp)
        _check_discount(session, user, sale, total, f"line {line_no} {line.sku}",
                        override, authorization_id)
        line.line_discount_bp = discount_bp
    reprice(session, sale)
    refresh_offers(session, sale)
    return sale


def remove_line(session: Session, user: User, line_no: int) -> Sale:
    sale = require_cart(session)
    sale.lines.remove(_line(sale, line_no))
    session.flush()
    reprice(session, sale)
    refresh_offers(session, sale)
    return sale


def refresh_offers(session: Session, sale: Sale) -> None:
    """After every change of the cart: a line whose offer no longer holds goes back to the
    shelf price (``offers.recheck_lines``; the cart is repriced), then the offers the cart
    shows now are chosen and recorded as shown."""
    node = identity(session)
    if offers.recheck_lines(session, sale, node.feed_cursor):
        reprice(session, sale)
    offers.refresh(session, sale, node.store_id, node.feed_cursor)


def set_receipt_discount(session: Session, user: User, bp: int,
                         override: staff.OverrideRequest | None = None,
                         authorization_id: UUID | None = None) -> Sale:
    sale = require_cart(session)
    if bp != sale.receipt_discount_bp:
        _check_discount(session, user, sale, bp, "receipt discount", override,
                        authorization_id)
        sale.receipt_discount_bp = bp
    reprice(session, sale)
    refresh_offers(session, sale)
    return sale


def void_cart(session: Session, user: User, reason: str) -> Sale:
    """Abandon the sale in progress; the void is reported so central can watch for abuse."""
    sale = require_cart(session)
    sale.status, sale.void_reason = "voided", (reason.strip() or "no reason given")[:200]
    append_event(session, "sale.voided", {
        "sale_id": sale.id, "shift_id": sale.shift_id, "cashier_id": user.id,
        "reason": sale.void_reason, "line_count": len(sale.lines), "total_minor": sale.total_minor,
        "at": utcnow()})
    offers.emit(session, sale)
    return sale


# --- completing --------------------------------------------------------------------------------

def checkout(session: Session, user: User, tenders: list[cart.Tender],
             customer_id: UUID | None = None, *, fiscal: FiscalReceipt | None = None,
             receipt_email: str | None = None) -> Sale:
    """Complete the sale in progress; ``fiscal``: the register's answer for its receipt
    (``fiscalising.prepare_sale`` made the document; a till without a register has none)."""
    sale = require_cart(session, editable=False)
    return _complete(session, sale, user, tenders, customer_id, fiscal, receipt_email)


def quick_sale(session: Session, user: User, lines: list[LineRequest],
               tenders: list[cart.Tender], customer_id: UUID | None = None,
               receipt_email: str | None = None) -> Sale:
    """A whole sale in one call (integrations, self-checkout): lines, payment, done. It never
    becomes the till's open cart, so a cart in progress on the screen is left alone."""
    if not lines:
        raise KassaError("A sale needs at least one line.", code="empty_sale", status=422)
    node = identity(session)
    shift = shifts.require_open(session)
    # Built whole in memory and added at the end, so the sale, its lines, its payment and
    # its outbox event go to the database in one flush.
    sale = Sale(id=uuid.uuid4(), status="open", shift_id=shift.id, cashier_id=user.id,
                started_at=utcnow(), receipt_discount_bp=0, lines=[], payments=[],
                points_burned=0, points_value_minor=0, points_offline=False)
    items = catalog.find_many(session, node.store_id, [req.lookup for req in lines])
    for n, (req, item) in enumerate(zip(lines, items, strict=True), start=1):
        cart.check_quantity(item, req.quantity_milli, n)
        sale.lines.append(SaleLine(
            line_no=n, product_id=item.product_id, sku=item.sku, name=item.name, unit=item.unit,
            quantity_milli=req.quantity_milli, unit_price_minor=item.unit_price_minor,
            line_discount_bp=0, amount_minor=0, vat_rate_bp=item.vat_rate_bp, vat_minor=0,
            points_earned=0, offer_discount_bp=0))
    return _complete(session, sale, user, tenders, customer_id, receipt_email=receipt_email)


class OfferEnded(KassaError):
    """Checkout found a line under an offer that no longer stands: the cart is repriced (kept)
    and the payment is taken again."""

    code, status, commit_anyway = "offer_ended", 409, True


def settle(session: Session, sale: Sale, user: User, tenders: list[cart.Tender],
           customer_id: UUID | None) -> cart.Settlement:
    """Everything checked and priced for completing the sale, and the payment applied: what
    the fiscal register is given, and then what completes."""
    node = identity(session)
    shift = session.get(Shift, sale.shift_id) if sale.shift_id else None
    if shift is None or shift.status != "open":
        raise shifts.ShiftClosed("The sale's shift is closed: void the sale.")
    if any(t.method == "points" for t in tenders):
        raise KassaError("Points are put towards the sale with the card (POST /cart/points), "
                         "not as a payment line.", code="points_via_card", status=422)
    if customer_id is not None and customer_id != sale.customer_id:
        account = till_loyalty.by_customer(session, customer_id)
        till_loyalty.identify(sale, account, customer_id, None)
        offers.take_lines_back(sale)
    if offers.recheck_lines(session, sale, node.feed_cursor):
        # An offer switched off (or a consent withdrawn) by a pull since the last change of
        # the cart: its line goes back to the shelf price, and the cashier takes the new total.
        reprice(session, sale, allow_empty=False)
        raise OfferEnded("An offer ended since the last scan: the total is now %(total)s.",
                         total=format_minor(sale.total_minor))
    reprice(session, sale, allow_empty=False)
    if sale.points_value_minor:
        till_loyalty.points_value(session, sale, sale.points_burned)  # the cart may have shrunk
        tenders = [cart.Tender("points", sale.points_value_minor,
                               str(sale.points_hold_id or "offline")), *tenders]
    return cart.settle(sale.total_minor, tenders)


def _complete(session: Session, sale: Sale, user: User, tenders: list[cart.Tender],
              customer_id: UUID | None, fiscal: FiscalReceipt | None = None,
              receipt_email: str | None = None) -> Sale:
    node = identity(session)
    settlement = settle(session, sale, user, tenders, customer_id)
    # The fiscal register registered the receipt before this (sale_api, ``fiscalising``):
    # its attributes are kept on the sale and go to central with it.
    if fiscal is not None:
        sale.fiscal_document_number, sale.fiscal_sign, sale.fiscal_drive_number = (
            fiscal.document_number, fiscal.fiscal_sign, fiscal.drive_number)
    sale.receipt_email = receipt_email
    sale.receipt_no = f"{node.node_id}-{next_counter(session, 'receipt'):08d}"
    sale.status, sale.sold_at, sale.cashier_id = "completed", utcnow(), user.id
    sale.change_minor = settlement.change_minor
    sale.payments = [Payment(method=p.method, amount_minor=p.amount_minor,
                             tendered_minor=p.tendered_minor, reference=p.reference)
                     for p in settlement.payments]
    if sale.account_id is not None:
        till_loyalty.earn_for_sale(session, sale)
    event = append_event(session, "sale.completed", sale_document(sale, node.store_id),
                         occurred_at=sale.sold_at)
    if sale.account_id is not None:
        till_loyalty.post_sale(session, sale, event.seq)
    print_queue.receipt(session, sale.receipt_no,
                        cash=any(p.method == "cash" for p in settlement.payments))
    if inspect(sale).persistent:
        offers.emit(session, sale)  # what the cart offered, and whether it was taken
        return sale  # the cart: the unit of work writes what changed
    _insert_new(session, sale)
    return sale


_SALE_COLUMNS = tuple(c.key for c in Sale.__table__.columns)
_LINE_COLUMNS = tuple(c.key for c in SaleLine.__table__.columns if c.key != "sale_id")
_PAYMENT_COLUMNS = ("method", "amount_minor", "tendered_minor", "reference")


def _insert_new(session: Session, sale: Sale) -> None:
    """Write a sale built whole in memory (``quick_sale``) with three Core INSERTs; the ORM's
    per-object bookkeeping was most of a checkout's cost. The object stays transient."""
    conn = session.connection()
    conn.execute(insert(Sale), [{c: getattr(sale, c) for c in _SALE_COLUMNS}])
    conn.execute(insert(SaleLine), [{"sale_id": sale.id, **{c: getattr(ln, c)
                                                           for c in _LINE_COLUMNS}}
                                    for ln in sale.lines])
    conn.execute(insert(Payment), [{"sale_id": sale.id, **{c: getattr(p, c)
                                                          for c in _PAYMENT_COLUMNS}}
                                   for p in sale.payments])


def post_void(session: Session, user: User, sale_id: UUID, reason: str,
              override: staff.OverrideRequest | None,
              register: FiscalRegister | None = None) -> Sale:
    """Cancel a completed sale of the current shift (the customer got their money back); a
    fiscalised sale is taken back on the register with a return receipt naming it."""
    sale = get_sale(session, sale_id)
    shift = shifts.require_open(session)
    # A completed sale has its receipt number: the test is for the type checker.
    if sale.status != "completed" or sale.shift_id != shift.id or sale.receipt_no is None:
        raise Conflict("Only a completed sale of the open shift can be post-voided; "
                       "later, take it back as a return.", code="not_post_voidable")
    granted = staff.authorize(session, identity(session).store_id, user, "post_void",
                              sale.receipt_no, True, staff.OverrideRequired(
                                  "Post-voiding a sale. A store manager must approve."),
                              override)
    # Always needed: ``authorize`` raised, or recorded the override it was given.
    assert granted is not None and override is not None
    if register is not None and sale.fiscal_document_number is not None:
        # One task per sale: a retry after a lost answer is answered, not registered again.
        register.register(FiscalDocument(
            "sell_return", uuid.uuid5(sale.id, "post-void"),
            [FiscalLine(ln.name, ln.unit_price_minor, ln.quantity_milli, ln.amount_minor,
                        ln.vat_rate_bp, ln.unit == "kg") for ln in sale.lines],
            [(p.method, p.amount_minor) for p in sale.payments], sale.total_minor,
            user.full_name or user.username,
            original=reference(sale.fiscal_drive_number, sale.fiscal_document_number,
                               sale.fiscal_sign)))
    sale.status, sale.void_reason = "post_voided", reason.strip()[:200] or override.reason
    event = append_event(session, "sale.post_voided", {
        "sale_id": sale.id, "receipt_no": sale.receipt_no, "override_id": granted.id,
        "reason": sale.void_reason, "at": utcnow()})
    if sale.account_id is not None:  # central undoes the sale's points the same way
        points = sale.points_burned - sum(ln.points_earned for ln in sale.lines)
        till_loyalty.post(session, sale.account_id, points, event.seq)
    return sale


def sale_document(sale: Sale, store_id: int) -> dict:
    return {
        "sale_id": sale.id, "receipt_no": sale.receipt_no, "store_id": store_id,
        "shift_id": sale.shift_id, "cashier_id": sale.cashier_id,
        "sold_at": sale.sold_at, "customer_id": sale.customer_id,
        "gross_minor": sale.gross_minor, "discount_minor": sale.discount_minor,
        "total_minor": sale.total_minor, "vat_minor": sale.vat_minor,
        "lines": [{c: getattr(ln, c) for c in (
            "line_no", "product_id", "sku", "name", "quantity_milli", "unit_price_minor",
            "gross_minor", "discount_minor", "promotion_id", "amount_minor", "vat_rate_bp",
            "vat_minor", "points_earned", "offer_id")} for ln in sale.lines],
        "payments": [{c: getattr(p, c) for c in ("method", "amount_minor", "tendered_minor",
                                                 "reference")} for p in sale.payments],
        "loyalty": till_loyalty.loyalty_use(sale), "authorization_id": sale.authorization_id,
        "fiscal": fiscal_attributes(sale), "receipt_email": sale.receipt_email,
    }


def fiscal_attributes(fact: Sale | Return) -> dict | None:
    """A sale's or return's fiscal receipt as central keeps it (None: not fiscalised)."""
    if fact.fiscal_document_number is None:
        return None
    return {"document_number": fact.fiscal_document_number, "fiscal_sign": fact.fiscal_sign,
            "drive_number": fact.fiscal_drive_number}


def get_sale(session: Session, sale_id: UUID) -> Sale:
    sale = session.get(Sale, sale_id, options=[selectinload(Sale.lines),
                                               selectinload(Sale.payments)])
    if sale is None:
        raise NotFound("No such sale on this node.", code="sale_not_found")
    return sale


def sale_by_receipt(session: Session, receipt_no: str) -> Sale | None:
    return session.scalars(select(Sale).where(Sale.receipt_no == receipt_no)
                           .options(selectinload(Sale.lines),
                                    selectinload(Sale.payments))).first()

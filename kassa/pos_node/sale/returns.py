"""Returns at the till: against a receipt (partial quantities, never more than was sold,
counting earlier returns) or blind (a manager's override). Refunds go back by the original
payment types (``cart.allocate_refund``); a refund over the role's limit needs a manager.

A receipt from this till is looked up locally. A receipt from another till is looked up at
central by the caller (outside any transaction) and handed in as an ``OriginalSale``; when
central cannot be reached the return is refused with a clear reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kassa.common.db import utcnow
from kassa.common.errors import KassaError
from kassa.common.money import round_half_up, vat_included
from kassa.pos_node.cards import till_loyalty
from kassa.pos_node.devices import fiscal, print_queue
from kassa.pos_node.devices.fiscal import FiscalDocument, FiscalLine, FiscalRegister
from kassa.pos_node.models import Refund, Return, ReturnLine, User
from kassa.pos_node.replication.outbox import append_event, next_counter
from kassa.pos_node.sale import approvals, cart, catalog, fiscalising, shifts, staff
from kassa.pos_node.sale.sales import fiscal_attributes, identity, sale_by_receipt


@dataclass
class OriginalLine:
    line_no: int
    product_id: int
    sku: str
    name: str
    quantity_milli: int
    amount_minor: int
    vat_rate_bp: int
    returned_milli: int = 0
    returned_minor: int = 0

    @property
    def returnable_milli(self) -> int:
        return self.quantity_milli - self.returned_milli


@dataclass
class OriginalSale:
    sale_id: UUID
    receipt_no: str
    lines: list[OriginalLine]
    paid: cart.PaidBy = field(default_factory=cart.PaidBy)
    points: till_loyalty.SalePoints | None = None  # the sale earned or spent points
    fiscal_reference: str | None = None  # its fiscal receipt, as a return receipt names it

    def to_dict(self) -> dict:
        return {"sale_id": self.sale_id, "receipt_no": self.receipt_no,
                "lines": [{**ln.__dict__, "returnable_milli": ln.returnable_milli}
                          for ln in self.lines]}


class ReturnRefused(KassaError):
    status = 422
    code = "return_exceeds_sold"


def local_original(session: Session, receipt_no: str) -> OriginalSale | None:
    """The sale behind a receipt of this till, with what earlier returns took back."""
    sale = sale_by_receipt(session, receipt_no)
    if sale is None:
        return None
    if sale.status != "completed":
        raise KassaError("Receipt %(receipt_no)s was voided; there is nothing to return.",
                         code="sale_voided", status=409, receipt_no=receipt_no)
    returned = {n: (q, a) for n, q, a in session.execute(
        select(ReturnLine.original_line_no, func.sum(ReturnLine.quantity_milli),
               func.sum(ReturnLine.amount_minor)).join(Return)
        .where(Return.original_sale_id == sale.id).group_by(ReturnLine.original_line_no))}
    refunded = dict(session.execute(
        select(Refund.method, func.sum(Refund.amount_minor)).join(Return)
        .where(Return.original_sale_id == sale.id).group_by(Refund.method)).all())
    paid = cart.PaidBy()
    for p in sale.payments:
        paid.remaining[p.method] = paid.remaining.get(p.method, 0) + p.amount_minor
        paid.references.setdefault(p.method, p.reference)
    for method, amount in refunded.items():
        paid.remaining[method] = paid.remaining.get(method, 0) - amount
    points = None
    if sale.account_id is not None:
        given_back = session.scalar(select(func.coalesce(func.sum(Return.points_refunded), 0))
                                    .where(Return.original_sale_id == sale.id))
        assert given_back is not None  # an aggregate answers one row, COALESCE makes it 0+
        points = till_loyalty.SalePoints(
            sale.account_id, sale.points_burned, sale.points_value_minor,
            {ln.line_no: ln.points_earned for ln in sale.lines}, given_back)
    return OriginalSale(sale.id, receipt_no, [
        OriginalLine(ln.line_no, ln.product_id, ln.sku, ln.name, ln.quantity_milli,
                     ln.amount_minor, ln.vat_rate_bp, *returned.get(ln.line_no, (0, 0)))
        for ln in sale.lines], paid, points, fiscalising.original_reference(sale))


def original_from_central(doc: dict) -> OriginalSale:
    """Build an ``OriginalSale`` from central's answer for another till's receipt."""
    paid = cart.PaidBy()
    for p in doc["payments"]:
        paid.remaining[p["method"]] = paid.remaining.get(p["method"], 0) + p["amount_minor"] \
            - p.get("refunded_minor", 0)
        paid.references.setdefault(p["method"], p.get("reference"))
    points = None
    if doc.get("account_id"):
        value = sum(p["amount_minor"] for p in doc["payments"] if p["method"] == "points")
        points = till_loyalty.SalePoints(
            UUID(doc["account_id"]), doc.get("points_burned", 0), value,
            {ln["line_no"]: ln.get("points_earned", 0) for ln in doc["lines"]},
            doc.get("points_given_back", 0))
    fiscal_doc = doc.get("fiscal") or {}
    reference = (fiscal.reference(fiscal_doc.get("drive_number"), fiscal_doc["document_number"],
                                  fiscal_doc.get("fiscal_sign"))
                 if fiscal_doc.get("document_number") else None)
    return OriginalSale(UUID(str(doc["sale_id"])), doc["receipt_no"], [
        OriginalLine(ln["line_no"], ln["product_id"], ln["sku"], ln["name"],
                     ln["quantity_milli"], ln["amount_minor"], ln["vat_rate_bp"],
                     ln.get("returned_milli", 0), ln.get("returned_minor", 0))
        for ln in doc["lines"]], paid, points, reference)


def add_unsent_returns(session: Session, original: OriginalSale, known_ids: set[str]) -> None:
    """Count this till's own returns of a remote sale that central has not received yet."""
    mine = session.scalars(select(Return).where(Return.original_sale_id == original.sale_id))
    by_no = {ln.line_no: ln for ln in original.lines}
    for ret in mine:
        if str(ret.id) in known_ids:
            continue
        for ln in ret.lines:
            if ln.original_line_no in by_no:
                by_no[ln.original_line_no].returned_milli += ln.quantity_milli
                by_no[ln.original_line_no].returned_minor += ln.amount_minor
        for r in ret.refunds:
            original.paid.remaining[r.method] = original.paid.remaining.get(r.method, 0) \
                - r.amount_minor
        if original.points is not None:
            original.points = replace(original.points,
                                      given_back=original.points.given_back
                                      + ret.points_refunded)


def _line_refund(line: OriginalLine, qty: int) -> int:
    """What the customer paid for ``qty`` of the line; the last unit takes what is left, so
    the refunds of a line never add up to more than was paid for it."""
    if qty == line.returnable_milli:
        return line.amount_minor - line.returned_minor
    return round_half_up(line.amount_minor * qty, line.quantity_milli)


def return_against_receipt(session: Session, user: User, original: OriginalSale,
                           wanted: list[tuple[int, int]], reason: str,
                           override: staff.OverrideRequest | None = None,
                           authorization_id: UUID | None = None,
                           register: FiscalRegister | None = None) -> Return:
    """``wanted`` is ``[(original line_no, quantity_milli)]``."""
    if not wanted:
        raise KassaError("Choose at least one line to return.", code="empty_return", status=422)
    by_no = {ln.line_no: ln for ln in original.lines}
    lines = []
    for n, (line_no, qty) in enumerate(wanted, start=1):
        line = by_no.get(line_no)
        if line is None:
            raise KassaError("Receipt %(receipt_no)s has no line %(line_no)s.",
                             code="no_such_line", status=422, receipt_no=original.receipt_no,
                             line_no=line_no)
        if qty <= 0:
            raise KassaError("Return quantities must be positive.", code="bad_quantity",
                             status=422)
        if qty > line.returnable_milli:
            raise ReturnRefused(
                "Line %(line_no)s (%(name)s): %(asked)s asked, %(left)s left to return of "
                "%(sold)s sold.", line_no=line_no, name=line.name,
                asked=format(qty / 1000, "g"), left=format(line.returnable_milli / 1000, "g"),
                sold=format(line.quantity_milli / 1000, "g"))
        amount = _line_refund(line, qty)
        line.returned_milli += qty  # a line listed twice counts both times
        line.returned_minor += amount
        lines.append(ReturnLine(line_no=n, original_line_no=line_no, product_id=line.product_id,
                                sku=line.sku, name=line.name, quantity_milli=qty,
                                amount_minor=amount, vat_rate_bp=line.vat_rate_bp,
                                vat_minor=vat_included(amount, line.vat_rate_bp),
                                points_reversed=0))
    total = sum(ln.amount_minor for ln in lines)
    if original.points is None:
        refunds = cart.allocate_refund(total, original.paid)
        return _record(session, user, lines, refunds, reason, override, original,
                       authorization_id=authorization_id, register=register)
    points_back, refunds = _points_back(original, lines, total)
    return _record(session, user, lines, refunds, reason, override, original, points_back,
                   authorization_id=authorization_id, register=register)


def _points_back(original: OriginalSale, lines: list[ReturnLine],
                 total: int) -> tuple[int, tuple[cart.Refund, ...]]:
    """Points on a return: each returned line gives up what it earned (in proportion to the
    quantity), and the points that paid for the sale come back in proportion to the value
    returned, as a points refund; the rest of the money goes back by the other payments."""
    # ``return_against_receipt`` calls this only for a sale with points, and every line it
    # built names the receipt's line it takes back.
    points = original.points
    assert points is not None
    returning: dict[int, int] = {}
    for ln in lines:
        assert ln.original_line_no is not None
        returning[ln.original_line_no] = returning.get(ln.original_line_no, 0) + ln.quantity_milli
    earlier = {ln.line_no: ln.returned_milli - returning.get(ln.line_no, 0)
               for ln in original.lines}
    reverse, give_back = till_loyalty.for_return(
        [(ln.line_no, ln.quantity_milli, ln.amount_minor) for ln in original.lines],
        points, returning, earlier)
    for ln in lines:  # a line listed twice gives its points up on its first return line
        assert ln.original_line_no is not None
        ln.points_reversed = reverse.pop(ln.original_line_no, 0)
    paid = cart.PaidBy(dict(original.paid.remaining), dict(original.paid.references))
    by_points = min(till_loyalty.points_refund_minor(points, give_back), total,
                    paid.remaining.pop("points", 0))
    refunds = cart.allocate_refund(total - by_points, paid)
    if by_points:
        refunds = (cart.Refund("points", by_points, paid.references.get("points")), *refunds)
    return give_back, refunds


def blind_return(session: Session, user: User, items: list[tuple[dict, int]], reason: str,
                 override: staff.OverrideRequest | None,
                 authorization_id: UUID | None = None,
                 register: FiscalRegister | None = None) -> Return:
    """Goods back without a receipt, at today's price, refunded in cash; always a manager's
    decision. ``items`` is ``[(lookup kwargs for catalog.find, quantity_milli)]``."""
    store_id = identity(session).store_id
    lines = []
    for n, (lookup, qty) in enumerate(items, start=1):
        item = catalog.find(session, store_id, **lookup)
        cart.check_quantity(item, qty, n)
        amount = round_half_up(item.unit_price_minor * qty, 1000)
        lines.append(ReturnLine(line_no=n, original_line_no=None, product_id=item.product_id,
                                sku=item.sku, name=item.name, quantity_milli=qty,
                                amount_minor=amount, vat_rate_bp=item.vat_rate_bp,
                                vat_minor=vat_included(amount, item.vat_rate_bp),
                                points_reversed=0))
    if not lines:
        raise KassaError("Choose at least one item to return.", code="empty_return", status=422)
    total = sum(ln.amount_minor for ln in lines)
    return _record(session, user, lines, (cart.Refund("cash", total),), reason, override, None,
                   blind=True, authorization_id=authorization_id, register=register)


def _record(session: Session, user: User, lines: list[ReturnLine], refunds, reason: str,
            override: staff.OverrideRequest | None, original: OriginalSale | None,
            points_back: int = 0, blind: bool = False,
            authorization_id: UUID | None = None,
            register: FiscalRegister | None = None) -> Return:
    node = identity(session)
    shift = shifts.require_open(session)
    total = sum(ln.amount_minor for ln in lines)
    cash_out = sum(r.amount_minor for r in refunds if r.method == "cash")
    if cash_out > shifts.report(session, shift)["expected_cash_minor"]:
        raise KassaError("The drawer does not hold enough cash for this refund.",
                         code="not_enough_cash", status=422)
    limit = staff.limits(session, user.role).max_refund_minor
    subject = original.receipt_no if original else "blind return"
    kind = "blind_return" if blind else "refund"
    central = approvals.require(session, kind, total, f"{subject} {total / 100:.2f}",
                                authorization_id)
    if blind:
        refusal = staff.OverrideRequired(
            "A return without a receipt. A store manager must approve.")
    else:
        refusal = staff.OverrideRequired(
            "A refund of %(amount)s is over the %(limit)s limit. A store manager must approve.",
            amount=format(total / 100, ".2f"), limit=format(limit / 100, ".2f"))
    granted = None if central else staff.authorize(
        session, node.store_id, user, kind, subject, blind or total > limit, refusal, override)
    # The return receipt is registered last, when nothing else can refuse the return; in the
    # return's own transaction (a return is rare, and a lost answer rolls it back: the retry
    # is the same task, ``return_task_id``).
    if register is not None:
        fiscalising.check_shift_age(session)
    receipt = None if register is None else register.register(FiscalDocument(
        "sell_return", fiscalising.return_task_id(session, node.node_id),
        [FiscalLine(ln.name, round_half_up(ln.amount_minor * 1000, ln.quantity_milli),
                    ln.quantity_milli, ln.amount_minor, ln.vat_rate_bp) for ln in lines],
        [(r.method, r.amount_minor) for r in refunds], total,
        fiscalising.cashier_name(user),
        original=original.fiscal_reference if original else None))
    ret = Return(return_no=f"{node.node_id}-R{next_counter(session, 'return'):08d}",
                 original_sale_id=original.sale_id if original else None,
                 original_receipt_no=original.receipt_no if original else None,
                 shift_id=shift.id, cashier_id=user.id,
                 override_id=granted.id if granted else None,
                 authorization_id=central.id if central else None,
                 reason=(reason or "").strip()[:200], total_minor=total,
                 account_id=original.points.account_id if original and original.points else None,
                 points_refunded=points_back,
                 vat_minor=sum(ln.vat_minor for ln in lines), created_at=utcnow(), lines=lines,
                 refunds=[Refund(method=r.method, amount_minor=r.amount_minor,
                                 reference=r.reference) for r in refunds],
                 fiscal_document_number=receipt.document_number if receipt else None,
                 fiscal_sign=receipt.fiscal_sign if receipt else None,
                 fiscal_drive_number=receipt.drive_number if receipt else None)
    session.add(ret)
    session.flush()
    event = append_event(session, "return.completed", return_document(ret))
    print_queue.receipt(session, ret.return_no, cash=cash_out > 0)
    if ret.account_id is not None:
        till_loyalty.post(session, ret.account_id,
                          points_back - sum(ln.points_reversed for ln in lines), event.seq)
    return ret


def return_document(ret: Return) -> dict:
    return {
        "return_id": ret.id, "return_no": ret.return_no,
        "original_sale_id": ret.original_sale_id, "original_receipt_no": ret.original_receipt_no,
        "shift_id": ret.shift_id, "cashier_id": ret.cashier_id, "override_id": ret.override_id,
        "reason": ret.reason, "returned_at": ret.created_at, "total_minor": ret.total_minor,
        "vat_minor": ret.vat_minor, "account_id": ret.account_id,
        "authorization_id": ret.authorization_id,
        "points_refunded": ret.points_refunded,
        "lines": [{c: getattr(ln, c) for c in (
            "line_no", "original_line_no", "product_id", "sku", "name", "quantity_milli",
            "amount_minor", "vat_rate_bp", "vat_minor", "points_reversed")}
            for ln in ret.lines],
        "refunds": [{c: getattr(r, c) for c in ("method", "amount_minor", "reference")}
                    for r in ret.refunds],
        "fiscal": fiscal_attributes(ret),
    }


def is_local_receipt(node_id: str, receipt_no: str) -> bool:
    return receipt_no.startswith(f"{node_id}-")


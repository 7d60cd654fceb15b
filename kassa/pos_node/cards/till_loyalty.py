"""Loyalty at the till: who the customer is, what their points are, what a sale earns and
what points may pay, online under central's hold or offline within the card's allowance.

The till's idea of a balance is central's replicated balance plus the till's own postings
(``LoyaltyPosting``) that central's replica does not show yet. A sale posts what it earned and
burned in the same transaction as the sale and its outbox event; the event carries the same
figures up to central, whose ledger keys them by cause, so nothing counts twice.

Spending points needs the card itself in the reader (a typed-in number identifies the
customer and earns points, but cannot spend them) and, when the card has one, its PIN, which
the card checks. Online, central holds the points before the sale completes; offline, the till
accepts at most the rules' points per card per day, and only while its last successful pull
is recent enough; beyond that the redemption is refused with the reason and the sale goes on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, time, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kassa.common.db import utcnow
from kassa.common.errors import Conflict, KassaError, NotFound
from kassa.loyalty import settings
from kassa.loyalty.ledger import LedgerError
from kassa.loyalty.rules import (
    EarnLine,
    SoldLine,
    check_offline_redemption,
    earn,
    points_for_return,
    redemption_value,
)
from kassa.pos_node.models import (
    Customer,
    LoyaltyAccount,
    LoyaltyPosting,
    LoyaltyRules,
    NodeIdentity,
    Product,
    Sale,
)


class LoyaltyRefused(KassaError):
    status = 422
    code = "loyalty_refused"


def refused(err: LedgerError) -> LoyaltyRefused:
    return LoyaltyRefused(err.template, code=err.code, **err.values)


def rules(session: Session) -> settings.LoyaltyRules:
    """Central's rules as replicated (the defaults until the first pull brings them)."""
    return settings.for_session(session, LoyaltyRules)


@dataclass(frozen=True)
class AccountView:
    """What the till shows about a customer's points."""

    account_id: uuid.UUID
    customer_id: uuid.UUID
    name: str
    card_number: str | None
    card_has_pin: bool
    tier: str
    balance: int
    expiring: list[tuple[str, int]]

    def to_dict(self) -> dict:
        return {"account_id": self.account_id, "customer_id": self.customer_id,
                "name": self.name, "card_number": self.card_number,
                "card_has_pin": self.card_has_pin, "tier": self.tier, "balance": self.balance,
                "expiring": [{"date": day, "points": points} for day, points in self.expiring]}


def pending_points(session: Session, account_id: uuid.UUID) -> int:
    """The till's postings central's replicated balance does not include yet."""
    points = session.scalar(select(func.coalesce(func.sum(LoyaltyPosting.points), 0)).where(
        LoyaltyPosting.account_id == account_id, LoyaltyPosting.absorbed.is_(False)))
    assert points is not None  # an aggregate answers one row, and COALESCE makes it 0 at least
    return points


def view(session: Session, customer: Customer) -> AccountView | None:
    account = session.scalars(select(LoyaltyAccount).where(
        LoyaltyAccount.customer_id == customer.id)).first()
    if account is None:
        return None
    return AccountView(account.id, customer.id, customer.name, customer.card_number,
                       bool(customer.card_has_pin), account.tier,
                       account.balance + pending_points(session, account.id),
                       [(day, points) for day, points in account.expiring or []])


def by_card(session: Session, card_number: str) -> AccountView:
    customer = session.scalars(select(Customer).where(
        Customer.card_number == card_number)).first()
    if customer is None:
        raise NotFound("No customer holds card %(number)s at this till (yet).",
                       code="card_not_known", number=card_number)
    account = view(session, customer)
    if account is None:
        raise NotFound("%(name)s has no loyalty account.", code="account_not_found",
                       name=customer.name)
    return account


def by_customer(session: Session, customer_id: uuid.UUID) -> AccountView | None:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound("No such customer at this till.", code="customer_not_found")
    return view(session, customer)


# --- the cart's customer ---------------------------------------------------------------------

def identify(sale: Sale, account: AccountView | None, customer_id: uuid.UUID,
             card_number: str | None) -> None:
    """The customer of the sale in progress; ``card_number`` only when the card itself was
    read (a typed-in number may earn, never spend). Changing the customer drops any points
    already put towards the sale."""
    if sale.points_burned and sale.account_id != (account.account_id if account else None):
        raise Conflict("Points of another customer pay part of this sale: take them off first.",
                       code="points_applied")
    sale.customer_id = customer_id
    sale.account_id = account.account_id if account else None
    sale.card_number = card_number


def offline_allowance_check(session: Session, account_id: uuid.UUID, points: int,
                            now: datetime | None = None) -> None:
    now = now or utcnow()
    start = datetime.combine(now.date(), time(), tzinfo=timezone.utc)
    spent = session.scalar(select(func.coalesce(func.sum(LoyaltyPosting.points), 0)).where(
        LoyaltyPosting.account_id == account_id, LoyaltyPosting.offline.is_(True),
        LoyaltyPosting.points < 0, LoyaltyPosting.at >= start))
    assert spent is not None  # an aggregate answers one row, and COALESCE makes it 0 at least
    used = -spent
    last_pull = session.scalar(select(NodeIdentity.last_pull_at))
    try:
        check_offline_redemption(rules(session).offline, points, used, last_pull, now)
    except LedgerError as err:
        raise refused(err) from None


def points_value(session: Session, sale: Sale, points: int) -> int:
    """What ``points`` pay on the sale in progress, within the balance and the rules."""
    if sale.account_id is None:
        raise LoyaltyRefused("Identify the customer first.", code="no_customer")
    if sale.card_number is None:
        raise LoyaltyRefused("Points can be spent only with the card in the reader.",
                             code="card_required")
    account = session.get(LoyaltyAccount, sale.account_id)
    balance = account.balance + pending_points(session, account.id) if account else 0
    try:
        return redemption_value(rules(session).redemption, points, sale.total_minor, balance)
    except LedgerError as err:
        raise refused(err) from None


def apply_points(sale: Sale, points: int, value_minor: int, hold_id: uuid.UUID | None) -> None:
    sale.points_burned, sale.points_value_minor = points, value_minor
    sale.points_hold_id, sale.points_offline = hold_id, hold_id is None


def clear_points(sale: Sale) -> uuid.UUID | None:
    """Take the points off the sale; returns central's hold to release, if there was one."""
    hold = sale.points_hold_id
    sale.points_burned = sale.points_value_minor = 0
    sale.points_hold_id, sale.points_offline = None, False
    return hold


# --- completing ---------------------------------------------------------------------------------

def earn_for_sale(session: Session, sale: Sale) -> None:
    """Set each line's points: the tier's rate on what the customer paid other than with
    points, with the rules' multipliers, up to the balance cap; the sale keeps the rules'
    version, by which central checks the figures."""
    account = session.get(LoyaltyAccount, sale.account_id)
    if account is None:
        return
    sale.rules_version = rules(session).version
    categories = dict(session.execute(select(Product.id, Product.category).where(
        Product.id.in_({ln.product_id for ln in sale.lines}))).all())
    lines = [EarnLine(ln.line_no, ln.product_id, categories.get(ln.product_id),
                      ln.amount_minor) for ln in sale.lines]
    assert sale.sold_at is not None  # checkout stamps the sale before it earns
    try:
        earned = earn(rules(session).earning, account.tier, lines, sale.points_value_minor,
                      sale.sold_at, account.balance + pending_points(session, account.id))
    except LedgerError as err:
        raise refused(err) from None
    for line in sale.lines:
        line.points_earned = earned.get(line.line_no, 0)


def post_sale(session: Session, sale: Sale, outbox_seq: int) -> None:
    """The till's postings for a completed sale (what it earned, what it burned), and the
    balance after it as the till counts it (the receipt prints it)."""
    earned = sum(ln.points_earned for ln in sale.lines)
    account = session.get(LoyaltyAccount, sale.account_id)
    if account is not None:
        sale.points_balance_after = (account.balance + pending_points(session, account.id)
                                     + earned - sale.points_burned)
    rows = []
    if earned:
        rows.append(LoyaltyPosting(account_id=sale.account_id, points=earned, offline=False,
                                   at=sale.sold_at, outbox_seq=outbox_seq))
    if sale.points_burned:
        rows.append(LoyaltyPosting(account_id=sale.account_id, points=-sale.points_burned,
                                   offline=sale.points_offline, at=sale.sold_at,
                                   outbox_seq=outbox_seq))
    session.add_all(rows)


def post(session: Session, account_id: uuid.UUID, points: int, outbox_seq: int) -> None:
    if points:
        session.add(LoyaltyPosting(account_id=account_id, points=points, offline=False,
                                   at=utcnow(), outbox_seq=outbox_seq))


def loyalty_use(sale: Sale) -> dict | None:
    """The ``loyalty`` part of a ``sale.completed`` event."""
    if sale.account_id is None:
        return None
    return {"account_id": sale.account_id, "burned": sale.points_burned,
            "hold_id": sale.points_hold_id, "card_number": sale.card_number,
            "rules_version": sale.rules_version}


# --- returns ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SalePoints:
    """What a sale did to points, and what its earlier returns already undid."""

    account_id: uuid.UUID
    burned: int
    burned_value_minor: int
    earned_by_line: dict[int, int]
    given_back: int = 0


def for_return(sold: list[tuple[int, int, int]], points: SalePoints,
               returning: dict[int, int], earlier: dict[int, int]) -> tuple[dict[int, int], int]:
    """``sold`` is ``[(line_no, quantity_milli, amount_minor)]``; see
    ``kassa.loyalty.rules.points_for_return``."""
    lines = [SoldLine(n, q, a, points.earned_by_line.get(n, 0)) for n, q, a in sold]
    try:
        return points_for_return(lines, returning, earlier, points.burned, points.given_back)
    except LedgerError as err:
        raise refused(err) from None


def points_refund_minor(points: SalePoints, give_back: int) -> int:
    """The money value of points given back, at the rate the sale burned them."""
    if not points.burned:
        return 0
    return points.burned_value_minor * give_back // points.burned


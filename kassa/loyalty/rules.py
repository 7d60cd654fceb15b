"""Loyalty rules set at central: what a sale earns, what points are worth, what a return takes
back, and how much a till may redeem while it cannot reach central.

All arithmetic is on integers: money in minor units, points whole, rates in thousandths or basis
points; where a share must be split, ``split_proportionally`` hands out the odd units so the
parts always add up to the whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from kassa.common.money import split_proportionally
from kassa.loyalty.ledger import LedgerError

FULL_BP = 10_000


@dataclass(frozen=True)
class PointsPromotion:
    """Extra points for a while: ``multiplier_bp`` 20000 is double points; ``product_ids``
    empty means every product."""

    starts_at: datetime
    ends_at: datetime
    multiplier_bp: int
    product_ids: frozenset[int] = frozenset()

    def applies(self, product_id: int, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at and (
            not self.product_ids or product_id in self.product_ids)


@dataclass(frozen=True)
class EarningRules:
    # Points per currency unit (100 minor units), in thousandths, by tier: 1000 = 1 point.
    rate_milli_by_tier: dict[str, int]
    product_multiplier_bp: dict[int, int] = field(default_factory=dict)
    category_multiplier_bp: dict[str, int] = field(default_factory=dict)
    promotions: tuple[PointsPromotion, ...] = ()
    # No account holds more than this; earning stops at the cap (None: no cap).
    max_balance: int | None = None


@dataclass(frozen=True)
class EarnLine:
    line_no: int
    product_id: int
    category: str | None
    amount_minor: int  # what the line costs after discounts


def earn(rules: EarningRules, tier: str, lines: list[EarnLine], paid_with_points_minor: int,
         at: datetime, balance: int = 0) -> dict[int, int]:
    """Points each line earns. The part of the sale paid with points earns nothing: it is
    taken off the lines in proportion to their amounts, and the rest earns at the tier's rate
    times the product's (else the category's) multiplier and any running promotion's. The sale
    earns the whole points of its lines' exact sum (1 % of 89.90 + 119.90 is 2 points, where
    rounding each line down would give 1), shared out among the lines by their exact shares so
    a return takes back what its lines earned. The cap on the balance trims the last lines
    first. Returns ``{line_no: points}`` (lines earning nothing left out)."""
    rate = rules.rate_milli_by_tier.get(tier)
    if rate is None:
        raise LedgerError("No earning rate for tier %(tier)s.", "unknown_tier", tier=repr(tier))
    total = sum(ln.amount_minor for ln in lines)
    if not 0 <= paid_with_points_minor <= total:
        raise LedgerError("Points paid for more than the sale.", "bad_points_payment")
    by_points = split_proportionally(paid_with_points_minor, [ln.amount_minor for ln in lines])
    exact = []  # each line's points times _PER_POINT, so that nothing is rounded yet
    for ln, off in zip(lines, by_points, strict=True):
        multiplier = rules.product_multiplier_bp.get(
            ln.product_id, rules.category_multiplier_bp.get(ln.category or "", FULL_BP))
        for promo in rules.promotions:
            if promo.applies(ln.product_id, at):
                multiplier = multiplier * promo.multiplier_bp // FULL_BP
        exact.append(max(ln.amount_minor - off, 0) * rate * multiplier)
    shares = split_proportionally(sum(exact) // _PER_POINT, exact)
    earned = {ln.line_no: points for ln, points in zip(lines, shares, strict=True) if points > 0}
    return _capped(earned, rules.max_balance, balance)


_PER_POINT = 100 * 1000 * FULL_BP  # minor units x rate in thousandths x multiplier in bp


def _capped(earned: dict[int, int], cap: int | None, balance: int) -> dict[int, int]:
    if cap is None:
        return earned
    room = max(cap - balance, 0)
    capped = {}
    for line_no, points in earned.items():
        take = min(points, room)
        room -= take
        if take:
            capped[line_no] = take
    return capped


@dataclass(frozen=True)
class RedemptionRules:
    minor_per_point: int  # what one point pays: 100 = one currency unit
    max_share_bp: int = FULL_BP  # at most this share of a sale may be paid with points
    min_points: int = 1


def redemption_value(rules: RedemptionRules, points: int, sale_total_minor: int,
                     balance: int) -> int:
    """What ``points`` pay on a sale of ``sale_total_minor``: the customer chooses how many to
    spend (partial redemption), within their balance and the rules."""
    if points < rules.min_points:
        raise LedgerError("Spend at least %(points)s points.", "too_few_points",
                          points=rules.min_points)
    if points > balance:
        raise LedgerError("The card holds %(points)s points.", "insufficient_points",
                          points=balance)
    value = points * rules.minor_per_point
    limit = sale_total_minor * rules.max_share_bp // FULL_BP
    if value > limit:
        raise LedgerError("Points may pay at most %(amount)s of this sale.",
                          "points_over_share", amount=format(limit / 100, ".2f"))
    return value


@dataclass(frozen=True)
class SoldLine:
    line_no: int
    quantity_milli: int
    amount_minor: int
    earned: int  # points this line earned when sold


def points_for_return(sold: list[SoldLine], returning: dict[int, int],
                      earlier: dict[int, int], burned: int,
                      already_given_back: int = 0) -> tuple[dict[int, int], int]:
    """What a return does to points. ``returning`` and ``earlier`` map line numbers to the
    quantity (thousandths) returned now and by the sale's earlier returns.

    Per returned line, the points it earned are taken back in proportion to the quantity; the
    points that paid for the sale are given back in proportion to the value of the goods
    returned. Both shares are cumulative over all the sale's returns, so returning everything,
    in one go or several, takes back exactly what the sale earned and gives back exactly what
    it burned. Returns ``({line_no: points to take back}, points to give back)``."""
    by_no = {s.line_no: s for s in sold}
    reverse = {}
    for line_no, qty in returning.items():
        line = by_no.get(line_no)
        before = earlier.get(line_no, 0)
        if line is None or qty <= 0 or before + qty > line.quantity_milli:
            raise LedgerError("Line %(line_no)s was not sold in that quantity.",
                              "bad_return_line", line_no=line_no)
        taken = (line.earned * (before + qty) // line.quantity_milli
                 - line.earned * before // line.quantity_milli)
        if taken:
            reverse[line_no] = taken
    total = sum(s.amount_minor for s in sold)
    if total == 0 or burned == 0:
        return reverse, 0
    value = sum(s.amount_minor * (earlier.get(s.line_no, 0) + returning.get(s.line_no, 0))
                // s.quantity_milli for s in sold)
    return reverse, max(burned * value // total - already_given_back, 0)


@dataclass(frozen=True)
class OfflineAllowance:
    """What a till may redeem on one card without asking central, set per card by central."""

    points_per_day: int
    max_hours_since_sync: int


def check_offline_redemption(allowance: OfflineAllowance, points: int, used_today: int,
                             last_sync_at: datetime | None, now: datetime) -> None:
    """Refuse, with a reason the cashier can read out, a redemption the till may not accept
    offline; the sale itself goes on without it."""
    if last_sync_at is None or now - last_sync_at > timedelta(
            hours=allowance.max_hours_since_sync):
        raise LedgerError("This till has not reached central recently enough to accept points "
                          "offline.", "offline_too_long")
    if used_today + points > allowance.points_per_day:
        left = max(allowance.points_per_day - used_today, 0)
        raise LedgerError("Offline, this card may spend %(points)s more points today.",
                          "offline_allowance_exceeded", points=left)


@dataclass(frozen=True)
class TierRules:
    # (tier, 12-month spend in minor units from which it applies), lowest first.
    thresholds: tuple[tuple[str, int], ...]

    def tier_for(self, spend_minor: int) -> str:
        tier = self.thresholds[0][0]
        for name, minimum in self.thresholds:
            if spend_minor >= minimum:
                tier = name
        return tier

    def rank(self, tier: str) -> int:
        return [name for name, _ in self.thresholds].index(tier)


def rolling_spend(purchases: list[tuple[datetime, int]], now: datetime) -> int:
    """Spend over the 365 days up to ``now`` (returns count as negative amounts)."""
    start = now - timedelta(days=365)
    return sum(amount for at, amount in purchases if start < at <= now)


def next_tier(rules: TierRules, current: str, spend_minor: int, now: datetime,
              review_at: datetime) -> str:
    """Upgrade as soon as the spend qualifies; downgrade only once the review date is
    reached (a customer never drops mid-year for one quiet month)."""
    earned = rules.tier_for(spend_minor)
    if rules.rank(earned) > rules.rank(current):
        return earned
    if rules.rank(earned) < rules.rank(current) and now >= review_at:
        return earned
    return current

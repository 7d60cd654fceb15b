"""Judging a till's word on points against the figure the rules give.

A till is the authority on what happened at it (these lines, at these prices, paid so), never
on what that is worth in points: central works each figure out again from the rules the till
sold under and compares. A difference within rounding is the till's to keep (its figure
stands, so receipts and central agree); beyond it, in the direction that gives a customer
points, central's figure is posted and the difference is a fraud alert. A till claiming fewer
points than the rules give (a tier it did not know of yet, the balance cap) is not a fraud:
what it claimed stands.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kassa.common.money import split_proportionally
from kassa.loyalty.ledger import LedgerError
from kassa.loyalty.rules import EarningRules, EarnLine, earn

ROUNDING = 1  # points a figure may differ by and still be the till's to keep


@dataclass(frozen=True)
class SoldFor:
    """A sale as the till reported it, in the terms earning needs."""

    total_minor: int
    lines: list[EarnLine]
    paid_with_points_minor: int


def earnable(sale: SoldFor) -> tuple[list[EarnLine], int]:
    """The lines and the points payment made to agree with the sale's total: lines that add up
    to more than the sale cost earn on their share of what it did cost (1 kopeck claimed as
    a million roubles of lines earns on 1 kopeck)."""
    total = max(sale.total_minor, 0)
    amounts = [max(ln.amount_minor, 0) for ln in sale.lines]
    if sum(amounts) > total:
        amounts = split_proportionally(total, amounts)
    lines = [EarnLine(ln.line_no, ln.product_id, ln.category, amount)
             for ln, amount in zip(sale.lines, amounts, strict=True)]
    return lines, min(max(sale.paid_with_points_minor, 0), sum(amounts))


def rules_figure(rules: EarningRules, tiers: list[str], sale: SoldFor,
                 at: datetime) -> dict[int, int]:
    """What the sale's lines earn under ``rules`` at the most generous of ``tiers`` (the tiers
    the account could have had at the till), before any balance cap: the most a till
    selling honestly could have given."""
    lines, paid = earnable(sale)
    uncapped = EarningRules(rules.rate_milli_by_tier, rules.product_multiplier_bp,
                            rules.category_multiplier_bp, rules.promotions, None)
    best: dict[int, int] = {}
    for tier in tiers:
        try:
            figure = earn(uncapped, tier, lines, paid, at)
        except LedgerError:  # a tier these rules do not name earns nothing under them
            continue
        if sum(figure.values()) > sum(best.values()):
            best = figure
    return best


def earn_stands(claimed: dict[int, int], figure: dict[int, int]) -> bool:
    """Whether the till's per-line claim is within rounding of the rules' figure, line by line
    and for the sale."""
    return (all(points <= figure.get(line_no, 0) + ROUNDING
                for line_no, points in claimed.items())
            and sum(claimed.values()) <= sum(figure.values()) + ROUNDING)


def burn_allowed(claimed: int, per_day: int, used_today: int) -> int:
    """The points an offline burn may take from the account: what the card's allowance for the
    day has left, at most."""
    return min(claimed, max(per_day - used_today, 0))


def refund_allowed(claimed: int, figure: int, burned_left: int) -> int:
    """Points a return may give back: the rules' share of what the sale burned (within
    rounding), never more than the sale burned and earlier returns did not give back."""
    limit = min(figure + ROUNDING, max(burned_left, 0))
    return claimed if claimed <= limit else min(figure, max(burned_left, 0))


def reversal_required(claimed: int, figure: int) -> int:
    """Points a return must take back from a line: the rules' share of what it earned, within
    rounding (taking back more is the till's business: it mints nothing)."""
    return claimed if claimed >= figure - ROUNDING else figure

"""Judging a till's points against the rules' figure (kassa.loyalty.claims), without I/O."""

from datetime import datetime, timezone

from kassa.loyalty.claims import (
    SoldFor,
    burn_allowed,
    earn_stands,
    refund_allowed,
    reversal_required,
    rules_figure,
)
from kassa.loyalty.rules import EarningRules, EarnLine

AT = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)
ONE_PERCENT = EarningRules({"base": 10, "silver": 20}, max_balance=1000)


def test_lines_worth_more_than_the_sale_earn_on_what_it_cost():
    kopeck = SoldFor(1, [EarnLine(1, 1, None, 10**9)], 0)
    assert rules_figure(ONE_PERCENT, ["base"], kopeck, AT) == {}
    honest = SoldFor(20980, [EarnLine(1, 1, None, 8990), EarnLine(2, 2, None, 11990)], 0)
    assert rules_figure(ONE_PERCENT, ["base"], honest, AT) == {1: 1, 2: 1}


def test_the_most_generous_tier_counts_and_the_balance_cap_does_not():
    sale = SoldFor(100_000, [EarnLine(1, 1, None, 100_000)], 0)
    assert rules_figure(ONE_PERCENT, ["base", "silver", "gone"], sale, AT) == {1: 20}
    big = SoldFor(10**9, [EarnLine(1, 1, None, 10**9)], 0)
    assert rules_figure(ONE_PERCENT, ["base"], big, AT) == {1: 100_000}  # over max_balance


def test_a_claim_stands_within_a_point_and_below():
    figure = {1: 10, 2: 5}
    assert earn_stands({1: 11, 2: 5}, figure)
    assert earn_stands({1: 3, 2: 0}, figure)
    assert not earn_stands({1: 12, 2: 5}, figure)
    assert not earn_stands({1: 11, 2: 6, 3: 1}, figure)  # a point on every line adds up


def test_burns_refunds_and_reversals_keep_to_the_rules():
    assert burn_allowed(2000, 500, 0) == 500
    assert burn_allowed(300, 500, 400) == 100
    assert burn_allowed(300, 500, 900) == 0
    assert refund_allowed(101, 100, 400) == 101  # rounding
    assert refund_allowed(5000, 100, 400) == 100
    assert refund_allowed(150, 200, 120) == 120  # what earlier returns left of the burn
    assert reversal_required(9, 10) == 9
    assert reversal_required(0, 10) == 10
    assert reversal_required(50, 10) == 50

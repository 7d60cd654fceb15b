"""The loyalty domain without I/O: the ledger (idempotent, lots, expiry, debt), earning,
redemption, returns, tiers and the offline allowance."""

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kassa.loyalty.ledger import EntryKind, Ledger, LedgerConflict, LedgerEntry, LedgerError
from kassa.loyalty.rules import (
    EarningRules,
    EarnLine,
    OfflineAllowance,
    PointsPromotion,
    RedemptionRules,
    SoldLine,
    TierRules,
    check_offline_redemption,
    earn,
    next_tier,
    points_for_return,
    redemption_value,
    rolling_spend,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)


def entry(cause, kind, points, days=0, expires_in=None):
    return LedgerEntry(cause, kind, points, T0 + days * DAY,
                       T0 + expires_in * DAY if expires_in is not None else None)


def test_a_replayed_entry_counts_once_and_a_changed_one_is_refused():
    ledger = Ledger()
    earned = entry("sale:1:1:earn", EntryKind.EARN, 50, expires_in=365)
    assert ledger.post(earned) is True
    assert ledger.post(earned) is False  # the same sync batch, again
    assert ledger.balance == 50
    with pytest.raises(LedgerConflict):
        ledger.post(entry("sale:1:1:earn", EntryKind.EARN, 60, expires_in=365))
    with pytest.raises(LedgerError) as err:
        entry("sale:1:burn", EntryKind.BURN, 10)
    assert err.value.code == "bad_sign"


def test_points_leave_the_oldest_expiring_lot_first_and_the_rest_expires():
    ledger = Ledger([entry("a", EntryKind.EARN, 100, 0, expires_in=30),
                     entry("b", EntryKind.EARN, 100, 1, expires_in=10),
                     entry("c", EntryKind.ADJUSTMENT, 5, 2)])  # never expires
    ledger.post(entry("burn", EntryKind.BURN, -120, 3))
    lots, debt = ledger.position()
    assert [(lot.cause, lot.points) for lot in lots] == [("a", 80), ("c", 5)] and debt == 0
    assert ledger.expiring(T0 + 3 * DAY, T0 + 60 * DAY) == [((T0 + 30 * DAY).date(), 80)]
    assert ledger.expire(T0 + 31 * DAY, "run-1")[0].points == -80
    assert ledger.expire(T0 + 31 * DAY, "run-1") == []  # the same run again: nothing
    assert ledger.balance == 5


def test_an_overdrawn_account_records_debt_and_later_earnings_repay_it():
    ledger = Ledger([entry("e1", EntryKind.EARN, 100, 0, expires_in=365)])
    ledger.post(entry("burn-node-1", EntryKind.BURN, -80, 1))
    ledger.post(entry("burn-node-2", EntryKind.BURN, -70, 1))  # offline at another till
    assert ledger.balance == -50 and ledger.position() == ([], 50)
    ledger.post(entry("e2", EntryKind.EARN, 30, 2, expires_in=365))
    assert ledger.position()[1] == 20 and ledger.balance == -20
    ledger.post(entry("e3", EntryKind.EARN, 30, 3, expires_in=365))
    lots, debt = ledger.position()
    assert debt == 0 and [lot.points for lot in lots] == [10] and ledger.balance == 10


moves = st.lists(st.tuples(st.sampled_from(["earn", "burn", "adjust"]),
                           st.integers(1, 500), st.integers(0, 400),
                           st.one_of(st.none(), st.integers(1, 400))), max_size=40)


@settings(max_examples=200, deadline=None)
@given(moves, st.integers(0, 800))
def test_lots_minus_debt_always_equal_the_ledger_sum(steps, expire_on):
    ledger = Ledger()
    for n, (kind, points, day, expires) in enumerate(steps):
        if kind == "earn":
            ledger.post(entry(f"e{n}", EntryKind.EARN, points, day,
                              day + expires if expires else None))
        elif kind == "burn":
            ledger.post(entry(f"b{n}", EntryKind.BURN, -points, day))
        else:
            ledger.post(entry(f"a{n}", EntryKind.ADJUSTMENT, points - 250 or 1, day))
    ledger.expire(T0 + expire_on * DAY, "run")
    lots, debt = ledger.position()
    assert sum(lot.points for lot in lots) - debt == ledger.balance
    assert all(lot.points > 0 for lot in lots) and debt >= 0
    # Replaying every entry changes nothing.
    before = ledger.balance
    for e in list(ledger.entries):
        ledger.post(e)
    assert ledger.balance == before


RULES = EarningRules({"basic": 1000, "gold": 2000}, product_multiplier_bp={3: 30000},
                     category_multiplier_bp={"coffee": 15000})


def test_earning_by_tier_multiplier_and_promotion():
    lines = [EarnLine(1, 1, None, 10_000), EarnLine(2, 2, "coffee", 10_000),
             EarnLine(3, 3, "coffee", 10_000)]
    assert earn(RULES, "basic", lines, 0, T0) == {1: 100, 2: 150, 3: 300}
    assert earn(RULES, "gold", lines, 0, T0) == {1: 200, 2: 300, 3: 600}
    double = EarningRules(RULES.rate_milli_by_tier, promotions=(
        PointsPromotion(T0 - DAY, T0 + DAY, 20000, frozenset({1})),))
    assert earn(double, "basic", lines[:2], 0, T0) == {1: 200, 2: 100}
    assert earn(double, "basic", lines[:2], 0, T0 + 2 * DAY) == {1: 100, 2: 100}
    with pytest.raises(LedgerError):
        earn(RULES, "platinum", lines, 0, T0)


def test_the_part_paid_with_points_earns_nothing_and_the_cap_holds():
    lines = [EarnLine(1, 1, None, 30_000), EarnLine(2, 2, None, 10_000)]
    # 100.00 of 400.00 paid with points: 300.00 earns, split 225.00 / 75.00.
    assert earn(RULES, "basic", lines, 10_000, T0) == {1: 225, 2: 75}
    assert earn(RULES, "basic", lines, 40_000, T0) == {}
    capped = EarningRules(RULES.rate_milli_by_tier, max_balance=1000)
    assert earn(capped, "basic", lines, 0, T0, balance=850) == {1: 150}
    with pytest.raises(LedgerError):
        earn(RULES, "basic", lines, 50_000, T0)


def test_redemption_is_partial_and_bounded():
    rules = RedemptionRules(minor_per_point=100, max_share_bp=5000, min_points=10)
    assert redemption_value(rules, 150, 40_000, balance=300) == 15_000
    for points, code in ((5, "too_few_points"), (400, "insufficient_points"),
                         (250, "points_over_share")):
        with pytest.raises(LedgerError) as err:
            redemption_value(rules, points, 40_000, balance=300)
        assert err.value.code == code


SOLD = [SoldLine(1, 3000, 30_000, 300), SoldLine(2, 1000, 10_000, 100),
        SoldLine(3, 750, 7_501, 75)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([1, 2, 3]), st.integers(1, 3000)), max_size=30),
       st.integers(0, 475))
def test_returning_everything_in_any_order_reverses_exactly(pieces, burned):
    """However a sale comes back (several returns, odd quantities), the points taken back never
    exceed what it earned and sum to it when all is back; the same for points given back."""
    earlier = {s.line_no: 0 for s in SOLD}
    taken = dict.fromkeys(earlier, 0)
    given_back = 0
    qty = {s.line_no: s.quantity_milli for s in SOLD}
    for line_no, q in pieces + [(s.line_no, s.quantity_milli) for s in SOLD]:
        q = min(q, qty[line_no] - earlier[line_no])
        if q <= 0:
            continue
        reverse, back = points_for_return(SOLD, {line_no: q}, earlier, burned, given_back)
        earlier[line_no] += q
        for n, p in reverse.items():
            taken[n] += p
        given_back += back
        assert all(taken[s.line_no] <= s.earned for s in SOLD) and given_back <= burned
    assert taken == {s.line_no: s.earned for s in SOLD}
    assert given_back == burned


def test_a_return_of_more_than_was_sold_is_refused():
    with pytest.raises(LedgerError) as err:
        points_for_return(SOLD, {2: 600}, {2: 500}, 0)
    assert err.value.code == "bad_return_line"


def test_the_offline_allowance_bounds_what_a_till_accepts_alone():
    allowance = OfflineAllowance(points_per_day=500, max_hours_since_sync=24)
    check_offline_redemption(allowance, 200, 300, T0 - timedelta(hours=3), T0)
    with pytest.raises(LedgerError) as err:
        check_offline_redemption(allowance, 201, 300, T0 - timedelta(hours=3), T0)
    assert err.value.code == "offline_allowance_exceeded" and "200 more" in str(err.value)
    for last in (None, T0 - timedelta(hours=25)):
        with pytest.raises(LedgerError) as err:
            check_offline_redemption(allowance, 1, 0, last, T0)
        assert err.value.code == "offline_too_long"


def test_tiers_rise_at_once_and_fall_only_at_the_review():
    rules = TierRules((("basic", 0), ("silver", 2_000_000), ("gold", 5_000_000)))
    purchases = [(T0 - 400 * DAY, 9_000_000), (T0 - 100 * DAY, 2_500_000)]
    spend = rolling_spend(purchases, T0)
    assert spend == 2_500_000
    review = T0 + 30 * DAY
    assert next_tier(rules, "basic", spend, T0, review) == "silver"
    assert next_tier(rules, "gold", spend, T0, review) == "gold"
    assert next_tier(rules, "gold", spend, review, review) == "silver"


def test_a_rules_document_is_checked_whole():
    from kassa.loyalty import settings
    rules = settings.parse(settings.DEFAULT)
    assert rules.tiers.tier_for(5_000_000) == "gold" and rules.points_valid_days == 365
    for broken in ({"tiers": [["base", 10]]}, {"rate_milli_by_tier": {"base": 1000}},
                   {"minor_per_point": 0}, {"max_share_bp": 12_000}, {"surprise": 1},
                   {"tiers": [["base", 0], ["gold", 5], ["silver", 1]]}):
        with pytest.raises(LedgerError) as err:
            settings.parse({**settings.DEFAULT, **broken})
        assert err.value.code == "bad_rules"


def test_the_default_rules_give_a_few_percent_back_on_the_whole_receipt():
    """Milk 89.90 and eggs 119.90 at the base tier's 1 %: 2 points (2.098 rounded down once
    for the receipt), where rounding each line down would give 1; gold's 3 % gives 6."""
    from kassa.loyalty import settings
    rules = settings.parse(settings.DEFAULT)
    lines = [EarnLine(1, 1001, "grocery", 8990), EarnLine(2, 1004, "grocery", 11990)]
    assert sum(earn(rules.earning, "base", lines, 0, T0).values()) == 2
    assert sum(earn(rules.earning, "gold", lines, 0, T0).values()) == 6
    assert rules.redemption.minor_per_point == 100  # a point pays one rouble
    shared = earn(rules.earning, "platinum", lines, 0, T0)  # 5 %: 10.49 -> 10 points
    assert shared == {1: 4, 2: 6}  # the lines' shares of the receipt's points


def test_a_refused_rules_document_names_the_field_at_fault():
    from kassa.loyalty import settings
    for broken, field in (({"rate_milli_by_tier": {**settings.DEFAULT["rate_milli_by_tier"],
                                                   "gold": -1}}, "rate_milli_by_tier.gold"),
                          ({"rate_milli_by_tier": {**settings.DEFAULT["rate_milli_by_tier"],
                                                   "gold": 1001}}, "rate_milli_by_tier.gold"),
                          ({"minor_per_point": 0}, "minor_per_point"),
                          ({"surprise": 1}, "surprise"),
                          ({"tiers": [["base", 0], ["gold", 5], ["silver", 1]]}, "tiers.2"),
                          ({"tiers": [["base", 0], ["silver", -5]]}, "tiers.1.1")):
        with pytest.raises(LedgerError) as err:
            settings.parse({**settings.DEFAULT, **broken})
        assert (err.value.code, err.value.values["field"]) == ("bad_rules", field), broken

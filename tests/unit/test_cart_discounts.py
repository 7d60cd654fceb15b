"""Promotions, discounts and refund allocation: pure arithmetic, no I/O."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa.common.errors import KassaError
from kassa.common.money import split_proportionally
from kassa.pos_node.sale.cart import Entry, Item, PaidBy, Promotion, allocate_refund, price

CHOC = Item(12, "5001", "Chocolate", "pcs", 2000, 9990)
TEA = Item(9, "3002", "Tea", "pcs", 2000, 34990)
BANANAS = Item(7, "2002", "Bananas", "kg", 1000, 13490)
THREE_FOR_TWO = Promotion(1, "n_for_m", frozenset({12}), n=3, m=2)
TEA_15 = Promotion(2, "percent", frozenset({9}), percent_bp=1500)
BANANA_20 = Promotion(3, "amount", frozenset({7}), amount_minor=2000)


def test_n_for_m_gives_every_nth_piece_free():
    sale = price([Entry(CHOC, 7000)], [THREE_FOR_TWO])
    assert sale.lines[0].promo_discount_minor == 2 * 9990
    assert sale.lines[0].promotion_id == 1
    assert price([Entry(CHOC, 2000)], [THREE_FOR_TWO]).lines[0].promo_discount_minor == 0


def test_percent_and_per_unit_amount_promotions():
    assert price([Entry(TEA, 1000)], [TEA_15]).total_minor == 34990 - 5249
    # 20.00 off a kilo, for 1.5 kg: 30.00
    assert price([Entry(BANANAS, 1500)], [BANANA_20]).lines[0].promo_discount_minor == 3000


def test_the_best_promotion_wins_and_none_makes_a_line_negative():
    big = Promotion(4, "amount", frozenset({9}), amount_minor=999999)
    sale = price([Entry(TEA, 1000)], [TEA_15, big])
    assert sale.lines[0].promotion_id == 4
    assert sale.lines[0].amount_minor == 0


def test_line_discount_applies_after_the_promotion():
    sale = price([Entry(TEA, 1000, line_discount_bp=1000)], [TEA_15])
    # 349.90 - 52.49 = 297.41; 10 % of that = 29.74
    assert sale.lines[0].amount_minor == 29741 - 2974


def test_receipt_discount_is_split_so_lines_add_up_to_the_total():
    sale = price([Entry(TEA, 1000), Entry(CHOC, 1000), Entry(BANANAS, 333)], [],
                 receipt_discount_bp=1000)
    assert sum(ln.amount_minor for ln in sale.lines) == sale.total_minor
    assert sale.receipt_discount_minor == round((34990 + 9990 + 4492) * 0.1)
    assert sale.vat_by_rate[2000] > 0 and sale.vat_by_rate[1000] > 0


@pytest.mark.parametrize("bp", [-1, 10001])
def test_discounts_must_be_0_to_100_percent(bp):
    with pytest.raises(KassaError):
        price([Entry(TEA, 1000, line_discount_bp=bp)])
    with pytest.raises(KassaError):
        price([Entry(TEA, 1000)], receipt_discount_bp=bp)


@given(st.integers(0, 10**9), st.lists(st.integers(0, 10**7), min_size=1, max_size=30))
def test_split_proportionally_is_exact(total, weights):
    parts = split_proportionally(total, weights)
    if sum(weights) == 0:
        assert parts == [0] * len(weights)
    else:
        assert sum(parts) == total
        assert all(p >= 0 for p in parts)


@given(qtys=st.lists(st.integers(1, 50), min_size=1, max_size=8),
       discount=st.integers(0, 10000))
def test_totals_are_exact_to_the_kopeck(qtys, discount):
    entries = [Entry(CHOC if i % 2 else TEA, q * 1000) for i, q in enumerate(qtys)]
    sale = price(entries, [THREE_FOR_TWO, TEA_15], receipt_discount_bp=discount)
    assert sum(ln.amount_minor for ln in sale.lines) == sale.total_minor
    assert all(0 <= ln.amount_minor <= ln.gross_minor for ln in sale.lines)
    assert sale.total_minor + sale.discount_minor == sale.gross_minor


def test_refunds_go_to_card_first_then_cash_and_never_exceed_what_was_paid():
    paid = PaidBy({"card": 30000, "cash": 20000}, {"card": "RRN1"})
    assert [(r.method, r.amount_minor, r.reference) for r in allocate_refund(35000, paid)] == [
        ("card", 30000, "RRN1"), ("cash", 5000, None)]
    with pytest.raises(KassaError) as err:
        allocate_refund(50001, paid)
    assert err.value.code == "refund_exceeds_paid"

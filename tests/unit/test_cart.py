import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa.common.errors import KassaError
from kassa.pos_node.sale.cart import Item, Tender, price_lines, settle

MILK = Item(1, "1001", "Milk", "pcs", 1000, 8990)
APPLES = Item(6, "2001", "Apples", "kg", 1000, 15990)
COFFEE = Item(8, "3001", "Coffee", "pcs", 2000, 149000)


def test_total_is_the_sum_of_lines_and_vat_is_broken_down_per_rate():
    sale = price_lines([(MILK, 2000), (APPLES, 750), (COFFEE, 1000)])
    assert [ln.amount_minor for ln in sale.lines] == [17980, 11993, 149000]
    assert sale.total_minor == 178973
    assert sale.vat_by_rate == {1000: 2725, 2000: 24833}
    assert sale.vat_minor == 2725 + 24833


def test_piece_goods_cannot_be_sold_by_weight():
    with pytest.raises(KassaError) as err:
        price_lines([(MILK, 1500)])
    assert err.value.code == "bad_quantity"


@pytest.mark.parametrize("qty", [0, -1000])
def test_quantity_must_be_positive(qty):
    with pytest.raises(KassaError) as err:
        price_lines([(MILK, qty)])
    assert err.value.code == "bad_quantity"


def test_empty_sale_is_refused():
    with pytest.raises(KassaError) as err:
        price_lines([])
    assert err.value.code == "empty_sale"


def test_cash_gives_change():
    s = settle(29973, [Tender("cash", 50000)])
    assert s.change_minor == 20027
    assert s.payments[0].amount_minor == 29973
    assert s.payments[0].tendered_minor == 50000


def test_split_card_and_cash():
    s = settle(10000, [Tender("card", 6000, "RRN1"), Tender("cash", 5000)])
    assert [(p.method, p.amount_minor) for p in s.payments] == [("card", 6000), ("cash", 4000)]
    assert s.change_minor == 1000


def test_card_cannot_overpay():
    with pytest.raises(KassaError) as err:
        settle(10000, [Tender("card", 10001)])
    assert err.value.code == "overpayment"


def test_short_payment_is_refused():
    with pytest.raises(KassaError) as err:
        settle(10000, [Tender("cash", 9999)])
    assert err.value.code == "payment_short"


@given(total=st.integers(1, 10**8), card=st.integers(0, 10**8), cash=st.integers(0, 10**8))
def test_applied_payments_always_equal_the_total(total, card, cash):
    tenders = ([Tender("card", card)] if card else []) + ([Tender("cash", cash)] if cash else [])
    try:
        s = settle(total, tenders)
    except KassaError:
        assert card > total or card + cash < total or not tenders
        return
    assert sum(p.amount_minor for p in s.payments) == total
    assert s.change_minor == card + cash - total
    assert s.change_minor <= cash

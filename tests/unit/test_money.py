from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa.common.money import (
    format_minor,
    line_amount,
    quantity_to_milli,
    round_half_up,
    vat_included,
)


@pytest.mark.parametrize("num, den, expected", [
    (5, 10, 1), (4, 10, 0), (15, 10, 2), (-5, 10, -1), (-4, 10, 0), (0, 3, 0), (11992500, 1000,
                                                                                 11993)])
def test_round_half_up(num, den, expected):
    assert round_half_up(num, den) == expected


def test_weighed_line_rounds_half_up_to_the_kopeck():
    # 0.750 kg at 159.90 is 119.925 -> 119.93
    assert line_amount(15990, 750) == 11993


@pytest.mark.parametrize("text, milli", [("1", 1000), ("0.350", 350), ("2.5", 2500), (3, 3000)])
def test_quantity_to_milli(text, milli):
    assert quantity_to_milli(text) == milli


def test_quantity_with_four_decimals_is_refused_not_rounded():
    with pytest.raises(ValueError):
        quantity_to_milli(Decimal("0.0005"))


def test_vat_included_at_20_percent():
    # 120.00 gross at 20 % contains 20.00 VAT
    assert vat_included(12000, 2000) == 2000
    assert vat_included(8990, 1000) == 817  # 89.90 at 10 % -> 8.1727 -> 8.17


@given(st.integers(min_value=0, max_value=10**12), st.sampled_from([0, 1000, 2000]))
def test_vat_is_never_more_than_the_gross_amount(gross, rate):
    vat = vat_included(gross, rate)
    assert 0 <= vat <= gross
    assert abs(vat * (10000 + rate) - gross * rate) <= (10000 + rate)  # within one kopeck


def test_format_minor():
    assert format_minor(29973) == "299.73"
    assert format_minor(5) == "0.05"

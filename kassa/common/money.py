"""Money and quantities as integers: minor units (kopecks, cents) and thousandths of a unit.

Floats never touch money. Rounding is half-up on the minor unit, the rule receipts use.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

MILLI = 1000


def round_half_up(numerator: int, denominator: int) -> int:
    """Integer division rounded half away from zero."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    q, r = divmod(abs(numerator), denominator)
    if 2 * r >= denominator:
        q += 1
    return q if numerator >= 0 else -q


def split_proportionally(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` in proportion to ``weights``; largest remainders get the odd units."""
    whole = sum(weights)
    if total == 0 or whole == 0:
        return [0] * len(weights)
    base = [total * w // whole for w in weights]
    rest = total - sum(base)
    order = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in order[:rest]:
        base[i] += 1
    return base


def quantity_to_milli(value: Decimal | int | str) -> int:
    """'0.350' -> 350. Refuses more than three decimals instead of silently rounding."""
    d = Decimal(str(value))
    milli = d * MILLI
    if milli != milli.to_integral_value():
        raise ValueError("quantity has more than three decimals")
    return int(milli)


def line_amount(unit_price_minor: int, quantity_milli: int) -> int:
    """Price of a line: unit price times quantity, rounded half-up to the minor unit."""
    return round_half_up(unit_price_minor * quantity_milli, MILLI)


def vat_included(gross_minor: int, rate_bp: int) -> int:
    """VAT contained in a VAT-inclusive amount; rate in basis points (2000 = 20 %)."""
    return round_half_up(gross_minor * rate_bp, 10000 + rate_bp)


def format_minor(amount: int, places: int = 2) -> str:
    return str((Decimal(amount) / (10**places)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP))

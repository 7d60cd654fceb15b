"""The chain's loyalty rules as one document central owns and every till replicates.

Central edits the document (``kassa.central.membership.loyalty_rules.set_rules``); it travels in
the change feed as the ``loyalty_rules`` entity, and both ends turn it into the rule objects of
``kassa.loyalty.rules`` with ``parse``, which refuses a document that does not hold together.
Each change central makes gets the next ``version`` (and its time, ``changed_at``) inside the
document itself, so a till knows which version it holds and central keeps every one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Protocol, TypeVar

import msgspec
from msgspec import Meta, Struct

from kassa.loyalty.ledger import LedgerError
from kassa.loyalty.rules import (
    EarningRules,
    OfflineAllowance,
    PointsPromotion,
    RedemptionRules,
    TierRules,
)

NonNegative = Annotated[int, Meta(ge=0)]
Positive = Annotated[int, Meta(ge=1)]


class PromotionDoc(Struct, forbid_unknown_fields=True):
    starts_at: Annotated[datetime, Meta(tz=True)]
    ends_at: Annotated[datetime, Meta(tz=True)]
    multiplier_bp: Positive
    product_ids: list[int] = []


class RulesDoc(Struct, forbid_unknown_fields=True):
    tiers: Annotated[list[tuple[str, NonNegative]], Meta(min_length=1)]
    rate_milli_by_tier: dict[str, NonNegative]
    minor_per_point: Positive
    points_valid_days: Positive = 365
    max_share_bp: Annotated[int, Meta(ge=0, le=10_000)] = 10_000
    min_points: Positive = 1
    max_balance: Positive | None = None
    product_multiplier_bp: dict[int, NonNegative] = {}
    category_multiplier_bp: dict[str, NonNegative] = {}
    promotions: list[PromotionDoc] = []
    offline_points_per_day: NonNegative = 0
    offline_max_hours: NonNegative = 24
    version: NonNegative = 0  # set by central on each change, never by the editor
    changed_at: Annotated[datetime, Meta(tz=True)] | None = None


# What central sets by itself on every change: an edit may not touch these.
CENTRAL_FIELDS = frozenset({"version", "changed_at"})
FULL_PERCENT_MILLI = 100_000  # rate x minor_per_point of a tier giving its whole spend back

# A chain's usual scheme: a point is worth one currency unit and a tier gives 1, 2, 3 or 5 % of
# the spend back (10 thousandths of a point per unit is 1 %): 209.80 at base earns 2 points.
DEFAULT = {
    "tiers": [["base", 0], ["silver", 2_000_000], ["gold", 5_000_000], ["platinum", 15_000_000]],
    "rate_milli_by_tier": {"base": 10, "silver": 20, "gold": 30, "platinum": 50},
    "minor_per_point": 100, "max_share_bp": 5000, "min_points": 1, "points_valid_days": 365,
    "offline_points_per_day": 500, "offline_max_hours": 24,
}


def _field_of(err: msgspec.ValidationError) -> str:
    """The dotted path msgspec names (``... - at `$.rate_milli_by_tier.gold` ``), or the
    unknown field's name; ``""`` for the whole document."""
    text = str(err)
    unknown = re.search(r"unknown field `([^`]*)`", text)
    if unknown:
        return unknown.group(1)
    at = re.search(r"at `\$\.?([^`]*)`", text)
    return re.sub(r"\[(\d+)\]", r".\1", at.group(1)) if at else ""


@dataclass(frozen=True)
class LoyaltyRules:
    earning: EarningRules
    redemption: RedemptionRules
    offline: OfflineAllowance
    tiers: TierRules
    points_valid_days: int
    version: int = 0  # the document's number at central (0: the defaults, never set)


def parse(document: Mapping[str, Any]) -> LoyaltyRules:
    """The rule objects of a rules document; ``LedgerError(bad_rules)`` if it is not one."""
    rates = document.get("rate_milli_by_tier")
    for tier, rate in rates.items() if isinstance(rates, dict) else ():
        if type(rate) is not int or rate < 0:  # msgspec names no dict key: this names the tier
            where = f"rate_milli_by_tier.{tier}"
            raise LedgerError("An earning rate is a whole number, 0 or more.", "bad_rules",
                              field=where)
    try:
        doc = msgspec.convert(document, RulesDoc, strict=False)
    except msgspec.ValidationError as err:
        raise LedgerError("Loyalty rules refused: %(reason)s", "bad_rules",
                          field=_field_of(err), reason=str(err)) from None
    names = [name for name, _ in doc.tiers]
    thresholds = [minimum for _, minimum in doc.tiers]
    if thresholds[0] != 0:
        raise LedgerError("The first tier starts at 0.", "bad_rules", field="tiers.0")
    for n in range(1, len(thresholds)):
        if thresholds[n] <= thresholds[n - 1] or names[n] in names[:n]:
            where = f"tiers.{n}"
            raise LedgerError("Each tier starts above the one before it.", "bad_rules",
                              field=where)
    if set(names) != set(doc.rate_milli_by_tier):
        raise LedgerError("Every tier needs an earning rate, and only tiers.", "bad_rules",
                          field="rate_milli_by_tier")
    for name in names:
        if doc.rate_milli_by_tier[name] * doc.minor_per_point > FULL_PERCENT_MILLI:
            where = f"rate_milli_by_tier.{name}"
            raise LedgerError("A tier gives back at most %(most)s of what is spent.",
                              "bad_rules", field=where, most="100 %")
    earning = EarningRules(
        doc.rate_milli_by_tier, doc.product_multiplier_bp, doc.category_multiplier_bp,
        tuple(PointsPromotion(p.starts_at, p.ends_at, p.multiplier_bp,
                              frozenset(p.product_ids)) for p in doc.promotions),
        doc.max_balance)
    return LoyaltyRules(earning,
                        RedemptionRules(doc.minor_per_point, doc.max_share_bp, doc.min_points),
                        OfflineAllowance(doc.offline_points_per_day, doc.offline_max_hours),
                        TierRules(tuple((name, minimum) for name, minimum in doc.tiers)),
                        doc.points_valid_days, doc.version)


class RulesRow(Protocol):
    """A row that holds the rules document: central's ``LoyaltySettings``, a till's
    ``LoyaltyRules`` replica."""

    @property
    def document(self) -> Mapping[str, Any]: ...


_Row = TypeVar("_Row")


class RulesSession(Protocol):
    """What ``for_session`` uses of SQLAlchemy's ``Session`` (this package does not import
    SQLAlchemy: pyproject's import contracts)."""

    @property
    def info(self) -> dict[Any, Any]: ...

    def get(self, entity: type[_Row], ident: int, /) -> _Row | None: ...


def for_session(session: RulesSession, model: type[RulesRow]) -> LoyaltyRules:
    """The rules in ``model``'s row 1 (central's settings or a till's replica), parsed once per
    unit of work (``session.info``); the defaults until a document is there."""
    parsed: LoyaltyRules | None = session.info.get("kassa_loyalty_rules")
    if parsed is None:
        row = session.get(model, 1)
        parsed = parse(row.document if row is not None else DEFAULT)
        session.info["kassa_loyalty_rules"] = parsed
    return parsed

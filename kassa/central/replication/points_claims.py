"""Central's check of the points a till's sale or return says it moved, as they arrive.

Decision 59 (``docs/decisions.md``): a sale earns what the rules the till sold under give it
(the version the event names, kept in ``loyalty_rules_versions``), for the account's tier as
central knew it, promotions by their time; an offline burn takes at most what the card's
allowance for the day has left at that till; a return gives back at most its share of what
the sale burned and takes back at least its share of what it earned. Where the till's figure
is beyond rounding (``kassa.loyalty.claims``), central posts its own, and a ``FraudAlert``
keeps the till's claim beside it, for the node's status page (``node_status``), with a line
in the audit log.

One ``PointsClaims`` per batch being applied: it caches the rules by version and counts the
offline burns of the batch's own sales, which are not in the database yet.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kassa.central.access import audit
from kassa.central.membership import loyalty_accounts
from kassa.central.models import (
    ChangeFeedEntry,
    LoyaltyRulesVersion,
    Node,
    RedemptionHold,
    Return,
    ReturnLine,
    Sale,
)
from kassa.common.db import utcnow
from kassa.loyalty import claims, settings
from kassa.loyalty.ledger import LedgerError
from kassa.loyalty.rules import EarnLine, SoldLine, points_for_return

# How far back an account's published tiers count as ones a till may still have held.
TIERS_LOOKED_BACK = 20


class PointsClaims:
    def __init__(self, session: Session, node: Node):
        self.session, self.node = session, node
        self._rules: dict[int | None, settings.LoyaltyRules] = {}
        self._offline: dict[tuple[uuid.UUID, date], dict[uuid.UUID, int]] = {}
        self.alerts: list[tuple[dict, dict]] = []  # (fraud_alerts row, audit_log row)

    def rules(self, version: int | None) -> settings.LoyaltyRules:
        """The rules of ``version``; the current ones for a till that names none (from before
        versions) or one central never set."""
        if version not in self._rules:
            row = (self.session.get(LoyaltyRulesVersion, version)
                   if version is not None else None)
            self._rules[version] = (settings.parse(row.document) if row is not None
                                    else loyalty_accounts.rules(self.session))
        return self._rules[version]

    # --- a sale --------------------------------------------------------------------------

    def earned(self, p: dict, tier: str | None, categories: dict[int, str | None]
               ) -> dict[int, int]:
        """The points to post for each line of the sale ``p``: the till's, unless they go
        beyond what the rules give (then central's, and an alert)."""
        claimed = {ln["line_no"]: ln["points_earned"] for ln in p["lines"]}
        if not any(claimed.values()):
            return claimed
        use = p["loyalty"]
        rules = self.rules(use.get("rules_version"))
        points_paid = sum(pay["amount_minor"] for pay in p["payments"]
                          if pay["method"] == "points")
        sale = claims.SoldFor(p["total_minor"], [
            EarnLine(ln["line_no"], ln["product_id"], categories.get(ln["product_id"]),
                     ln["amount_minor"]) for ln in p["lines"]],
            max(points_paid, use["burned"] * rules.redemption.minor_per_point))
        tiers = [tier] if tier else []
        figure = claims.rules_figure(rules.earning, tiers, sale, p["sold_at"])
        if claims.earn_stands(claimed, figure):
            return claimed
        # The till may have sold before it heard of a change of tier: any tier central
        # published for the account lately is one it could have held.
        tiers += sorted(self._recent_tiers(use["account_id"]) - set(tiers))
        figure = claims.rules_figure(rules.earning, tiers, sale, p["sold_at"])
        if claims.earn_stands(claimed, figure):
            return claimed
        self._alert("earn", "sale.completed", p["sale_id"], p["receipt_no"], use["account_id"],
                    sum(claimed.values()), sum(figure.values()), "earn_over_rules",
                    p["sold_at"], {"rules_version": rules.version, "tiers": tiers,
                                   "claimed": _keyed(claimed), "posted": _keyed(figure)})
        return {line_no: figure.get(line_no, 0) for line_no in claimed}

    def hold_stands(self, p: dict) -> bool:
        """Whether the sale's burn is under a hold central granted this till for these points
        on this account (else it is an offline burn, whatever hold id it names)."""
        use = p["loyalty"]
        if use["hold_id"] is None:
            return False
        held = self.session.get(RedemptionHold, use["hold_id"])
        return (held is not None and held.node_id == self.node.id
                and held.account_id == use["account_id"] and held.points == use["burned"]
                and (held.status != "committed" or held.sale_id in (None, p["sale_id"])))

    def offline_burn(self, p: dict) -> int:
        """The points an offline burn of sale ``p`` takes: within the card's allowance for the
        day at this till (as the till itself counts it: its UTC day), the rest an alert."""
        use = p["loyalty"]
        claimed = use["burned"]
        rules = self.rules(use.get("rules_version"))
        day = p["sold_at"].astimezone(timezone.utc).date()
        batch = self._offline.setdefault((use["account_id"], day), {})
        used = self._burned_offline(use["account_id"], day, set(batch)) + sum(batch.values())
        allowed = claims.burn_allowed(claimed, rules.offline.points_per_day, used)
        batch[p["sale_id"]] = allowed
        if allowed < claimed:
            self._alert("burn", "sale.completed", p["sale_id"], p["receipt_no"],
                        use["account_id"], claimed, allowed, "burn_over_allowance",
                        p["sold_at"], {"per_day": rules.offline.points_per_day,
                                       "used_before": used, "hold_id": _text(use["hold_id"])})
        return allowed

    def _burned_offline(self, account_id: uuid.UUID, day: date,
                        skip: set[uuid.UUID]) -> int:
        start = datetime.combine(day, time(), tzinfo=timezone.utc)
        stmt = select(func.coalesce(func.sum(Sale.points_burned), 0)).where(
            Sale.node_id == self.node.id, Sale.account_id == account_id,
            Sale.points_hold_id.is_(None), Sale.sold_at >= start,
            Sale.sold_at < start + timedelta(days=1))
        if skip:
            stmt = stmt.where(Sale.id.not_in(skip))
        return int(self.session.scalar(stmt) or 0)

    def _recent_tiers(self, account_id: uuid.UUID) -> set[str]:
        payloads = self.session.scalars(
            select(ChangeFeedEntry.payload).where(
                ChangeFeedEntry.entity == "loyalty_account",
                ChangeFeedEntry.entity_key == str(account_id))
            .order_by(ChangeFeedEntry.version.desc()).limit(TIERS_LOOKED_BACK))
        return {doc["tier"] for doc in payloads if isinstance(doc, dict) and doc.get("tier")}

    # --- a return ------------------------------------------------------------------------

    def returned(self, p: dict) -> tuple[uuid.UUID, dict[int, int], int]:
        """``(account, points to take back per return line, points to give back)`` for the
        return ``p``, by what central holds of the sale it takes goods back from."""
        sale = (self.session.get(Sale, p["original_sale_id"])
                if p["original_sale_id"] is not None else None)
        account = sale.account_id if sale is not None and sale.account_id else p["account_id"]
        claimed_lines = {ln["line_no"]: ln["points_reversed"] for ln in p["lines"]}
        claimed_refund = p["points_refunded"]
        expected, refund_figure, burned_left = self._return_figures(p, sale)
        refund = claims.refund_allowed(claimed_refund, refund_figure, burned_left)
        facts = {"original_sale_id": _text(p["original_sale_id"]),
                 "claimed_account_id": _text(p["account_id"])}
        if refund != claimed_refund:
            self._alert("refund", "return.completed", p["return_id"], p["return_no"], account,
                        claimed_refund, refund, "refund_over_burned", p["returned_at"],
                        {**facts, "burned_left": burned_left, "rules_share": refund_figure})
        by_original: dict[int, int] = {}
        for ln in p["lines"]:
            key = ln["original_line_no"]
            if key is not None:
                by_original[key] = by_original.get(key, 0) + ln["points_reversed"]
        short = {n: need for n, need in expected.items()
                 if claims.reversal_required(by_original.get(n, 0), need) != by_original.get(n, 0)}
        lines = claimed_lines
        if short:
            lines = dict(claimed_lines)
            placed: set[int] = set()
            for ln in p["lines"]:
                key = ln["original_line_no"]
                if key in short:
                    lines[ln["line_no"]] = 0 if key in placed else short[key]
                    placed.add(key)
            self._alert("reversal", "return.completed", p["return_id"], p["return_no"], account,
                        sum(claimed_lines.values()), sum(lines.values()),
                        "reversal_under_earned", p["returned_at"],
                        {**facts, "claimed": _keyed(by_original), "required": _keyed(expected)})
        if account != p["account_id"]:
            self._alert("refund", "return.completed", p["return_id"], p["return_no"],
                        account, claimed_refund, refund, "account_mismatch", p["returned_at"],
                        facts)
        return account, lines, refund

    def _return_figures(self, p: dict, sale: Sale | None) -> tuple[dict[int, int], int, int]:
        """``({sale line: points to take back}, points to give back, points the sale burned
        that no earlier return gave back)`` by the rules' shares."""
        if sale is None or sale.account_id is None:
            return {}, 0, 0
        earlier = dict(self.session.execute(
            select(ReturnLine.original_line_no, func.sum(ReturnLine.quantity_milli))
            .join(Return, Return.id == ReturnLine.return_id)
            .where(Return.original_sale_id == sale.id, Return.id != p["return_id"])
            .group_by(ReturnLine.original_line_no)).all())
        given_back = int(self.session.scalar(
            select(func.coalesce(func.sum(Return.points_refunded), 0))
            .where(Return.original_sale_id == sale.id, Return.id != p["return_id"])) or 0)
        returning: dict[int, int] = {}
        for ln in p["lines"]:
            key = ln["original_line_no"]
            if key is not None:
                returning[key] = returning.get(key, 0) + ln["quantity_milli"]
        sold = [SoldLine(ln.line_no, ln.quantity_milli, ln.amount_minor, ln.points_earned)
                for ln in sale.lines]
        burned_left = max(sale.points_burned - given_back, 0)
        try:
            expected, refund = points_for_return(
                sold, returning, {k: int(v) for k, v in earlier.items() if k is not None},
                sale.points_burned, given_back)
        except LedgerError:  # lines the sale did not have, or more than it sold
            return {}, 0, burned_left
        return expected, refund, burned_left

    # --- alerts --------------------------------------------------------------------------

    def _alert(self, kind: str, event_kind: str, document_id: uuid.UUID, document_no: str,
               account_id: uuid.UUID | None, claimed: int, posted: int, reason: str,
               at: datetime, details: dict) -> None:
        alert_id, now = uuid.uuid4(), utcnow()
        row = {"id": alert_id, "node_id": self.node.id, "kind": kind, "event_kind": event_kind,
               "document_id": document_id, "document_no": document_no,
               "account_id": account_id, "claimed": claimed, "posted": posted,
               "reason": reason, "details": details, "occurred_at": at, "raised_at": now,
               "status": "open", "resolved_at": None, "resolved_by_id": None,
               "resolution_note": None}
        line = audit.entry(f"fraud_alert:{kind}",
                           f"{self.node.id} {document_no}: till claimed {claimed} points, "
                           f"central posted {posted}", reason=reason, node_id=self.node.id,
                           reference_id=alert_id, at=now,
                           details={"account_id": _text(account_id), **details})
        self.alerts.append((row, {c: getattr(line, c) for c in (
            "at", "node_id", "action", "actor_id", "on_behalf_of_id", "subject", "reason",
            "reference_id", "details")}))


def _keyed(points: dict[int, int]) -> dict[str, int]:
    return {str(k): v for k, v in sorted(points.items())}


def _text(value) -> str | None:
    return None if value is None else str(value)

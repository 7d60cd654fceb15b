"""An account's points as a person reads them: one row per purchase, return or expiry run, not
one per ledger entry.

The ledger keeps an entry per receipt line (``sale:<id>:<line>:earn``) and per lot expired
(``expiry:<run>:<lot>``); a row here gathers the entries of one cause's owner: a sale (its
lines' earnings, the points that paid for it, under its hold or not, and a post-void's undoing),
a return, an expiry run. Any other entry (an adjustment, a transfer, an import) is a row of its
own. Rows are newest first; a sale's row has its receipt, store and total.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kassa.central.models import LoyaltyEntry, RedemptionHold, Return, Sale, Store


@dataclass
class _Row:
    kind: str  # purchase | return | expiry | an entry's kind
    at: datetime
    earned: int = 0
    spent: int = 0
    owner: uuid.UUID | None = None  # the sale's or the return's id
    entry_ids: list[int] = field(default_factory=list)


def _owner(cause: str) -> tuple[str, str] | None:
    """``(kind, key)`` of the sale, hold, return or expiry run an entry's cause belongs to."""
    head, _, rest = cause.partition(":")
    key = rest.split(":", 1)[0]
    if head in ("sale", "hold", "return", "expiry") and key:
        return head, key
    return None


def by_purchase(session: Session, account_id: uuid.UUID, page: int, per_page: int) -> dict:
    """Page ``page`` of the account's points, a row per purchase (see the module)."""
    entries = session.execute(
        select(LoyaltyEntry.id, LoyaltyEntry.cause, LoyaltyEntry.kind, LoyaltyEntry.points,
               LoyaltyEntry.at).where(LoyaltyEntry.account_id == account_id)).all()
    owners = [_owner(cause) for _id, cause, *_rest in entries]
    holds = _hold_sales(session, [o[1] for o in owners if o and o[0] == "hold"])
    rows: dict[tuple[str, str], _Row] = {}
    for (entry_id, _cause, kind, points, at), owner in zip(entries, owners, strict=True):
        if owner and owner[0] == "hold":
            sale_id = holds.get(owner[1])
            owner = ("sale", str(sale_id)) if sale_id else None
        group = owner or ("entry", str(entry_id))
        row = rows.get(group)
        if row is None:
            row = rows[group] = _Row(_kind(group[0], kind), at,
                                     owner=_uuid(group[1]) if group[0] in ("sale", "return")
                                     else None)
        row.at = max(row.at, at)
        row.entry_ids.append(entry_id)
        if points > 0:
            row.earned += points
        else:
            row.spent += points
    ordered = sorted(rows.values(), key=lambda r: (r.at, max(r.entry_ids)), reverse=True)
    shown = ordered[(page - 1) * per_page:page * per_page]
    return {"page": page, "pages": max(1, -(-len(ordered) // per_page)),
            "items": _described(session, shown)}


def _kind(group: str, entry_kind: str) -> str:
    return {"sale": "purchase", "return": "return", "expiry": "expiry"}.get(group, entry_kind)


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _hold_sales(session: Session, hold_ids: list[str]) -> dict[str, uuid.UUID]:
    ids = [i for i in map(_uuid, hold_ids) if i is not None]
    if not ids:
        return {}
    return {str(hold_id): sale_id for hold_id, sale_id in session.execute(
        select(RedemptionHold.id, RedemptionHold.sale_id).where(
            RedemptionHold.id.in_(ids), RedemptionHold.sale_id.is_not(None)))
        if sale_id is not None}


def _described(session: Session, rows: list[_Row]) -> list[dict]:
    """The rows as the API answers them, with each sale's or return's receipt, store, total
    and time."""
    owners = [r.owner for r in rows if r.owner is not None]
    sales = {s.id: s for s in session.execute(
        select(Sale.id, Sale.receipt_no, Sale.sold_at.label("at"), Sale.total_minor,
               Sale.status, Store.name.label("store_name"))
        .join(Store, Store.id == Sale.store_id).where(Sale.id.in_(owners)))} if owners else {}
    returns = {r.id: r for r in session.execute(
        select(Return.id, Return.return_no.label("receipt_no"), Return.returned_at.label("at"),
               Return.total_minor, Store.name.label("store_name"))
        .join(Store, Store.id == Return.store_id).where(Return.id.in_(owners)))} \
        if owners else {}
    out = []
    for row in rows:
        doc = sales.get(row.owner) if row.kind == "purchase" else returns.get(row.owner)
        out.append({
            "kind": row.kind, "at": doc.at if doc is not None else row.at,
            "receipt_no": doc.receipt_no if doc is not None else None,
            "store_name": doc.store_name if doc is not None else None,
            "total_minor": doc.total_minor if doc is not None else None,
            "voided": getattr(doc, "status", "completed") == "post_voided",
            "earned": row.earned, "spent": row.spent, "points": row.earned + row.spent})
    return out

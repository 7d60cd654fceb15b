"""Applying a page of central's change feed to a node's replica tables.

The page and the cursor move in one transaction: a crash half-way leaves the old cursor and
the old rows, and the next pull applies the same page again (every apply is an upsert or a
delete by key, so applying twice is the same as once).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from kassa.common.db import utcnow
from kassa.pos_node.models import (
    BlockedCard,
    Customer,
    IssuerKey,
    LoyaltyAccount,
    LoyaltyPosting,
    LoyaltyRules,
    NodeIdentity,
    Offer,
    OfferProfile,
    OutboxEvent,
    PeerNode,
    Price,
    Product,
    ProductBarcode,
    Promotion,
    RoleLimit,
    StockCard,
    Store,
    User,
)


def _upsert(session: Session, model, data: dict, fields: tuple[str, ...]) -> None:
    session.merge(model(**{f: data[f] for f in fields if f in data}))


def other_names(names: dict | None) -> str:
    """A product's names in other languages as the name search indexes them."""
    return " ".join(names.values()) if names else ""


def _product(session: Session, key: str, data: dict | None) -> None:
    pid = int(key)
    session.execute(delete(ProductBarcode).where(ProductBarcode.product_id == pid))
    if data is None:
        session.execute(delete(Product).where(Product.id == pid))
        return
    if "names" in data:  # else a change that left them as they were
        data = {**data, "other_names": other_names(data["names"])}
    _upsert(session, Product, data, ("id", "sku", "name", "names", "other_names", "vat_rate_bp",
                                     "unit", "active", "category"))
    session.flush()
    for code in data.get("barcodes", []):
        session.merge(ProductBarcode(barcode=code, product_id=pid))


def _simple(model, fields: tuple[str, ...], key_type=int):
    def apply(session: Session, key: str, data: dict | None) -> None:
        if data is None:
            obj = session.get(model, key_type(key))
            if obj is not None:
                session.delete(obj)
            return
        _upsert(session, model, data, fields)
    return apply


_CUSTOMER = _simple(Customer, ("id", "name", "card_number", "phone", "email", "card_has_pin",
                               "blocked"), uuid.UUID)


def _customer(session: Session, key: str, data: dict | None) -> None:
    """Central's record. Central says who holds a card: a member this till gave the same stock
    card while offline (another till reached central first) loses it here."""
    if data is not None:
        data = {**data, "id": uuid.UUID(data["id"])}
        if data.get("card_number"):
            session.execute(update(Customer).where(
                Customer.card_number == data["card_number"], Customer.id != data["id"])
                .values(card_number=None))
    _CUSTOMER(session, key, data)


def _stock_card(session: Session, key: str, data: dict | None) -> None:
    """A card in the store's stock; one a member here holds already is not offered again."""
    if data is not None and session.scalar(
            select(Customer.id).where(Customer.card_number == key)) is not None:
        return
    _simple(StockCard, ("card_number", "kind"), str)(session, key, data)


def _promotion(session: Session, key: str, data: dict | None) -> None:
    if data is not None:
        data = {**data, **{k: datetime.fromisoformat(data[k]) if data.get(k) else None
                           for k in ("starts_at", "ends_at")}}
    _simple(Promotion, ("id", "name", "kind", "product_ids", "percent_bp", "amount_minor", "n",
                        "m", "starts_at", "ends_at", "active"))(session, key, data)


def _price(session: Session, key: str, data: dict | None) -> None:
    if data is not None:
        data = {**data, "effective_from": datetime.fromisoformat(data["effective_from"])
                if data.get("effective_from") else None}
    _simple(Price, ("id", "product_id", "store_id", "region_id", "effective_from",
                    "amount_minor"))(session, key, data)


def _card_block(session: Session, key: str, data: dict | None) -> None:
    if data is not None:
        data = {**data, "blocked_at": datetime.fromisoformat(data["blocked_at"])}
    _simple(BlockedCard, ("card_number", "reason", "blocked_at"), str)(session, key, data)


_ACCOUNT = _simple(LoyaltyAccount, ("id", "customer_id", "tier", "balance", "expiring"),
                   uuid.UUID)


def _loyalty_account(session: Session, key: str, data: dict | None) -> None:
    """Central's account as of now: it holds every event of ours central acknowledged, so the
    till's own postings from those events stop counting on top of it."""
    if data is not None:
        data = {**data, "id": uuid.UUID(data["id"]),
                "customer_id": uuid.UUID(data["customer_id"])}
    _ACCOUNT(session, key, data)
    acked = (select(func.max(OutboxEvent.seq)).where(OutboxEvent.acked_at.is_not(None))
             .scalar_subquery())  # central acknowledges in order: everything up to here
    mine = LoyaltyPosting.account_id == uuid.UUID(key)
    session.execute(update(LoyaltyPosting).where(mine, LoyaltyPosting.outbox_seq <= acked)
                    .values(absorbed=True))
    session.execute(delete(LoyaltyPosting).where(
        mine, LoyaltyPosting.absorbed.is_(True), LoyaltyPosting.at < utcnow() - timedelta(days=2)))


def canonical(document: dict) -> dict:
    """Keys sorted at every level: the stored text is the same whichever way the document came
    (PostgreSQL's JSONB reorders keys; the snapshot keeps the writer's order)."""
    return json.loads(json.dumps(document, sort_keys=True))


def _loyalty_rules(session: Session, key: str, data: dict | None) -> None:
    if data is not None:
        data = {**data, "document": canonical(data["document"])}
    _simple(LoyaltyRules, ("id", "document"))(session, key, data)


def _offer_profile(session: Session, key: str, data: dict | None) -> None:
    if data is not None:
        data = {**data, "customer_id": uuid.UUID(data["customer_id"])}
    _simple(OfferProfile, ("customer_id", "segment", "offers_ok", "held_out"),
            uuid.UUID)(session, key, data)


APPLIERS = {
    "offer": _simple(Offer, ("id", "kind", "product_id", "trigger_product_ids", "discount_bp",
                             "segments", "active")),
    "offer_profile": _offer_profile,
    "loyalty_account": _loyalty_account,
    "loyalty_rules": _loyalty_rules,
    "card_block": _card_block,
    "issuer_key": _simple(IssuerKey, ("id", "public_key_pem")),
    "node": _simple(PeerNode, ("id", "store_id", "public_key_pem"), str),
    "promotion": _promotion,
    "role_limit": _simple(RoleLimit, ("role", "max_discount_bp", "max_refund_minor"), str),
    "product": _product,
    "price": _price,
    "store": _simple(Store, ("id", "code", "name", "region_code", "timezone", "locale",
                             "currency", "address")),
    "user": _simple(User, ("id", "username", "full_name", "role", "store_id", "pin_hash",
                           "active")),
    "customer": _customer,
    "stock_card": _stock_card,
}


def apply_page(session: Session, node: NodeIdentity, changes: list[dict], next_since: int) -> int:
    """Apply changes in version order and move the cursor; returns how many were applied."""
    applied = 0
    for change in sorted(changes, key=lambda c: c["version"]):
        applier = APPLIERS.get(change["entity"])
        if applier is None:
            continue  # an entity this node version does not replicate
        applier(session, change["key"], None if change["deleted"] else change["data"])
        session.flush()
        applied += 1
    node.feed_cursor = max(node.feed_cursor, next_since)
    return applied


def store_zone(session: Session) -> str:
    """The IANA time zone of this till's store, as central's feed last gave it (UTC before
    the store's document arrived): a sale's day is the day on that wall clock."""
    zone = session.scalar(select(Store.timezone).join(
        NodeIdentity, NodeIdentity.store_id == Store.id))
    return zone or "UTC"

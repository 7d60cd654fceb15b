"""The ``data`` document each replicated entity carries, in the change feed and in a snapshot.

One function per entity, used by whatever records a change (``masterdata``, ``sync.apply``) and
by the snapshot (``snapshot``), so a node loads the same document whichever way it arrives.
Each takes an object with the entity's attributes (an ORM row or a result row).
"""

from __future__ import annotations


def region_doc(r) -> dict:
    return {"id": r.id, "code": r.code, "name": r.name}


def store_doc(s) -> dict:
    return {"id": s.id, "code": s.code, "name": s.name, "region_code": s.region_code,
            "timezone": s.timezone, "locale": s.locale, "currency": s.currency,
            "address": s.address}


def product_doc(p, barcodes: list[str]) -> dict:
    """A product for the tills. ``names`` only when the source has them: a change that does
    not touch them (a CSV import of the other columns) leaves a till's as they are."""
    doc = {"id": p.id, "sku": p.sku, "name": p.name, "vat_rate_bp": p.vat_rate_bp,
           "unit": p.unit, "active": p.active, "category": p.category, "barcodes": barcodes}
    if hasattr(p, "names"):
        doc["names"] = p.names or {}
    return doc


def price_doc(p) -> dict:
    """``effective_from`` is a local wall-clock time (no zone): each store reads it in its own."""
    return {"id": p.id, "product_id": p.product_id, "store_id": p.store_id,
            "region_id": p.region_id, "amount_minor": p.amount_minor,
            "effective_from": p.effective_from.isoformat() if p.effective_from else None}


def promotion_doc(p) -> dict:
    return {"id": p.id, "name": p.name, "kind": p.kind, "product_ids": p.product_ids,
            "percent_bp": p.percent_bp, "amount_minor": p.amount_minor, "n": p.n, "m": p.m,
            "starts_at": p.starts_at.isoformat() if p.starts_at else None,
            "ends_at": p.ends_at.isoformat() if p.ends_at else None, "active": p.active}


def role_limit_doc(r) -> dict:
    return {"role": r.role, "max_discount_bp": r.max_discount_bp,
            "max_refund_minor": r.max_refund_minor}


def user_doc(u) -> dict:
    """Till users only (cashiers, store managers): office users never reach a node."""
    return {"id": u.id, "username": u.username, "full_name": u.full_name, "role": u.role,
            "store_id": u.store_id, "pin_hash": u.pin_hash, "active": u.active}


def customer_doc(c) -> dict:
    return {"id": str(c.id), "name": c.name, "card_number": c.card_number, "phone": c.phone,
            "email": c.email, "card_has_pin": bool(c.card_has_pin),
            "blocked": c.blocked_at is not None}


def account_doc(a) -> dict:
    return {"id": str(a.id), "customer_id": str(a.customer_id), "tier": a.tier,
            "balance": a.balance, "expiring": a.expiring or []}


def stock_card_doc(card_number: str, kind: str) -> dict:
    """A card in the store's stock, for its tills to give a new member (``kind``: ``chip`` or
    ``printed``)."""
    return {"card_number": card_number, "kind": kind}

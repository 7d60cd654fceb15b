"""Promotions, central's master data: percent or amount off, or n for the price of m, on some
products, now or in a window. Every change goes to the tills in the change feed; the API's
changes are in the audit log with the promotion before and after."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from kassa.central.access import audit
from kassa.central.models import Product, Promotion, User
from kassa.central.replication.feed import record_change
from kassa.central.replication.feed_documents import promotion_doc
from kassa.common.db import locked
from kassa.common.errors import Invalid, NotFound
from kassa.sync.payloads import jsonable

PROMOTION_KINDS = ("percent", "amount", "n_for_m")


def create_promotion(session: Session, name: str, kind: str, products: list[Product], *,
                     percent_bp: int = 0, amount_minor: int = 0, n: int = 0, m: int = 0,
                     starts_at=None, ends_at=None) -> Promotion:
    if kind not in PROMOTION_KINDS:
        raise Invalid("Unknown promotion kind %(kind)s.", code="bad_promotion", kind=repr(kind))
    if kind == "n_for_m" and not n > m >= 0:
        raise Invalid("An n-for-m promotion needs n > m.", code="bad_promotion")
    promo = Promotion(name=name, kind=kind, product_ids=[p.id for p in products],
                      percent_bp=percent_bp, amount_minor=amount_minor, n=n, m=m,
                      starts_at=starts_at, ends_at=ends_at, active=True)
    session.add(promo)
    session.flush()
    record_change(session, "promotion", promo.id, promotion_doc(promo))
    return promo




def promotion_view(session: Session, promo: Promotion) -> dict:
    """A promotion as the API shows it, its products by SKU."""
    skus = dict(session.execute(select(Product.id, Product.sku).where(
        Product.id.in_(promo.product_ids))).all())
    return {"id": promo.id, "name": promo.name, "kind": promo.kind,
            "percent_bp": promo.percent_bp, "amount_minor": promo.amount_minor, "n": promo.n,
            "m": promo.m, "starts_at": promo.starts_at, "ends_at": promo.ends_at,
            "active": promo.active, "skus": [skus[i] for i in promo.product_ids if i in skus]}


def promotions(session: Session) -> list[dict]:
    """Every promotion, running, scheduled or ended."""
    return [promotion_view(session, p) for p in
            session.scalars(select(Promotion).order_by(Promotion.id))]


def start_promotion(session: Session, actor: User, *, skus: list[str], **terms) -> dict:
    """Start a promotion on the products with these SKUs (``product_not_found`` names the
    first missing ones), now or in a window."""
    products = list(session.scalars(select(Product).where(Product.sku.in_(skus))))
    missing = sorted(set(skus) - {p.sku for p in products})
    if missing:
        raise NotFound("No product %(sku)s.", code="product_not_found",
                       sku=", ".join(missing[:5]))
    promo = create_promotion(session, terms.pop("name"), terms.pop("kind"), products, **terms)
    after = promotion_view(session, promo)
    audit.change(session, actor.id, "promotion", promo.id, None, jsonable(after))
    return after


def change_promotion(session: Session, actor: User, promotion_id: int, changes: dict) -> dict:
    """Rename, stop or restart a promotion, or move its end."""
    promo = locked(session, Promotion, promotion_id,
                   NotFound("No such promotion.", code="promotion_not_found"))
    before = promotion_view(session, promo)
    for name, value in changes.items():
        setattr(promo, name, value)
    session.flush()
    after = promotion_view(session, promo)
    if after != before:
        record_change(session, "promotion", promo.id, promotion_doc(promo))
        audit.change(session, actor.id, "promotion", promo.id, jsonable(before),
                     jsonable(after))
    return after

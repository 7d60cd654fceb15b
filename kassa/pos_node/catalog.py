"""What the till knows about goods: lookup by barcode, SKU or name, today's price and
promotions, all from the node's replica, never from the network."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import or_, select, text
from sqlalchemy.orm import Session

from kassa.common.db import utcnow
from kassa.common.errors import KassaError
from kassa.pos_node import cart
from kassa.pos_node.models import Price, Product, ProductBarcode, Promotion


class UnknownProduct(KassaError):
    status = 422
    code = "unknown_product"


def item_for(session: Session, store_id: int, product: Product) -> cart.Item:
    # A store's own price wins over the chain-wide one (store_id NULL sorts last here).
    price = session.scalars(
        select(Price).where(Price.product_id == product.id,
                            or_(Price.store_id == store_id, Price.store_id.is_(None)))
        .order_by(Price.store_id.is_(None))).first()
    if price is None:
        raise KassaError(f"{product.name} has no price at this store.", code="no_price",
                         status=422)
    return cart.Item(product.id, product.sku, product.name, product.unit, product.vat_rate_bp,
                     price.amount_minor)


def find(session: Session, store_id: int, *, barcode: str | None = None,
         sku: str | None = None, product_id: int | None = None) -> cart.Item:
    """The sellable item for a scanned barcode, a keyed SKU/PLU or a picked product id."""
    if barcode is not None:
        product = session.scalars(
            select(Product).join(ProductBarcode, ProductBarcode.product_id == Product.id)
            .where(ProductBarcode.barcode == barcode)).first()
        what, code = f"barcode {barcode}", "unknown_barcode"
    elif sku is not None:
        product = session.scalars(select(Product).where(Product.sku == sku)).first()
        what, code = f"SKU {sku}", "unknown_product"
    else:
        product = session.get(Product, product_id)
        what, code = f"id {product_id}", "unknown_product"
    if product is None or not product.active:
        raise UnknownProduct(f"No product with {what}.", code=code)
    return item_for(session, store_id, product)


_WORD = re.compile(r"\w+", re.UNICODE)


def search(session: Session, store_id: int, query: str, limit: int = 20) -> list[dict]:
    """Name or SKU search for the till's type-ahead: every word as a prefix (FTS5)."""
    words = _WORD.findall(query)[:6]
    if not words:
        return []
    match = " ".join(f'"{w}"*' for w in words)
    rows = session.execute(text(
        "SELECT p.id, p.sku, p.name, p.unit FROM products_fts f JOIN products p ON p.id = f.rowid "
        "WHERE products_fts MATCH :q AND p.active ORDER BY rank LIMIT :n"),
        {"q": match, "n": limit}).all()
    out = []
    for pid, sku, name, unit in rows:
        product = session.get(Product, pid)
        try:
            price = item_for(session, store_id, product).unit_price_minor
        except KassaError:
            continue
        out.append({"product_id": pid, "sku": sku, "name": name, "unit": unit,
                    "price_minor": price})
    return out


def active_promotions(session: Session, at: datetime | None = None) -> list[cart.Promotion]:
    at = at or utcnow()
    rows = session.scalars(select(Promotion).where(
        Promotion.active,
        or_(Promotion.starts_at.is_(None), Promotion.starts_at <= at),
        or_(Promotion.ends_at.is_(None), Promotion.ends_at > at)))
    return [cart.Promotion(p.id, p.kind, frozenset(p.product_ids), p.percent_bp,
                           p.amount_minor, p.n, p.m) for p in rows]

"""What the till knows about goods: lookup by barcode, SKU or name, today's price and
promotions, all from the node's replica, never from the network."""

from __future__ import annotations

import re
from datetime import datetime
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, bindparam, column, func, or_, select, table, text
from sqlalchemy.orm import Session

from kassa.common import clock
from kassa.common.db import utcnow
from kassa.common.errors import KassaError
from kassa.pos_node.models import Price, Product, ProductBarcode, Promotion, Store
from kassa.pos_node.sale import cart


class UnknownProduct(KassaError):
    status = 422
    code = "unknown_product"


# The lookups a scan runs, built once: product and the price that applies at the store now,
# in one query. The store's own row wins over its region's (the replica holds only its own
# region's), which wins over the chain-wide one; within one scope the latest start that is not
# in the future by the store's wall clock (a NULL start sorts last: the standing price).
_PRICE = (select(Price.amount_minor)
          .where(Price.product_id == Product.id,
                 or_(Price.store_id == bindparam("store"), Price.store_id.is_(None)),
                 or_(Price.effective_from.is_(None),
                     Price.effective_from <= bindparam("local_now")))
          .order_by(Price.store_id.is_(None), Price.region_id.is_(None),
                    Price.effective_from.desc())
          .limit(1).scalar_subquery())
# The name in the store's language where the product has one (``shelf`` binds the path).
_NAME = func.coalesce(func.json_extract(Product.names, bindparam("name_path")), Product.name)
_COLUMNS = (Product.id, Product.sku, _NAME, Product.unit, Product.vat_rate_bp,
            Product.active, _PRICE)
_BY_BARCODE = (select(*_COLUMNS).join(ProductBarcode, ProductBarcode.product_id == Product.id)
               .where(ProductBarcode.barcode == bindparam("key")))
_BY_SKU = select(*_COLUMNS).where(Product.sku == bindparam("key"))
_BY_ID = select(*_COLUMNS).where(Product.id == bindparam("key"))


def _item(row) -> cart.Item:
    """A row of ``_COLUMNS`` as a sellable item."""
    pid, sku, name, unit, vat_rate_bp, _active, price = row
    if price is None:
        raise KassaError("%(name)s has no price at this store.", code="no_price", status=422,
                         name=name)
    return cart.Item(pid, sku, name, unit, vat_rate_bp, price)


def find(session: Session, store_id: int, *, barcode: str | None = None,
         sku: str | None = None, product_id: int | None = None) -> cart.Item:
    """The sellable item for a scanned barcode, a keyed SKU/PLU or a picked product id."""
    key: str | int | None
    if barcode is not None:
        query, key = _BY_BARCODE, barcode
    elif sku is not None:
        query, key = _BY_SKU, sku
    else:
        query, key = _BY_ID, product_id
    row = session.execute(query, {"key": key, **shelf(session, store_id)}).first()
    if row is None or not row.active:
        if barcode is not None:
            raise UnknownProduct("No product with barcode %(barcode)s.", code="unknown_barcode",
                                 barcode=barcode)
        if sku is not None:
            raise UnknownProduct("No product with SKU %(sku)s.", code="unknown_product", sku=sku)
        raise UnknownProduct("No product with id %(product_id)s.", code="unknown_product",
                             product_id=product_id)
    return _item(row)


_MANY = {
    "barcode": (select(ProductBarcode.barcode, *_COLUMNS)
                .join(Product, ProductBarcode.product_id == Product.id)
                .where(ProductBarcode.barcode.in_(bindparam("keys", expanding=True)))),
    "sku": (select(Product.sku, *_COLUMNS)
            .where(Product.sku.in_(bindparam("keys", expanding=True)))),
    "product_id": (select(Product.id, *_COLUMNS)
                   .where(Product.id.in_(bindparam("keys", expanding=True)))),
}


def find_many(session: Session, store_id: int,
              lookups: list[tuple[str, str | int | None]]) -> list[cart.Item]:
    """``find`` for a whole basket: ``[(kind, key)]`` with kind barcode, sku or product_id,
    one query per kind; items come back in the order asked. Refuses the first unknown one."""
    found: dict[tuple[str, str | int | None], tuple] = {}
    where = shelf(session, store_id)
    for kind in {k for k, _key in lookups}:
        keys = sorted({key for k, key in lookups if k == kind}, key=str)
        for key, *row in session.execute(_MANY[kind], {"keys": keys, **where}):
            found[(kind, key)] = tuple(row)
    items = []
    for n, (kind, key) in enumerate(lookups, start=1):
        hit = found.get((kind, key))
        if hit is None or not hit[5]:  # unknown or no longer sold
            if kind == "barcode":
                raise UnknownProduct("Line %(line_no)s: no product with barcode %(key)s.",
                                     code="unknown_barcode", line_no=n, key=key)
            if kind == "sku":
                raise UnknownProduct("Line %(line_no)s: no product with SKU %(key)s.",
                                     code="unknown_product", line_no=n, key=key)
            raise UnknownProduct("Line %(line_no)s: no product with id %(key)s.",
                                 code="unknown_product", line_no=n, key=key)
        items.append(_item(hit))
    return items


_WORD = re.compile(r"\w+", re.UNICODE)
RANKED_PREFIX = 4  # shorter prefixes match too much to rank quickly: list them as found


_FTS = table("products_fts", column("rowid"), column("rank"))
_SEARCH = (select(Product.id, Product.sku, _NAME, Product.unit, _PRICE.label("price"))
           .join(_FTS, _FTS.c.rowid == Product.id)
           .where(text("products_fts MATCH :q"), Product.active))


def search(session: Session, store_id: int, query: str, limit: int = 20) -> list[dict]:
    """Name or SKU search for the till's type-ahead: every word as a prefix (FTS5), each hit
    with its price, in one query."""
    words = _WORD.findall(query)[:6]
    if not words:
        return []
    match = " ".join(f'"{w}"*' for w in words)
    stmt = _SEARCH.where(_PRICE.is_not(None)).limit(limit)
    if max(len(w) for w in words) >= RANKED_PREFIX:
        stmt = stmt.order_by(_FTS.c.rank)
    rows = session.execute(stmt, {"q": match, **shelf(session, store_id)}).all()
    return [{"product_id": pid, "sku": sku, "name": name, "unit": unit, "price_minor": price}
            for pid, sku, name, unit, price in rows]


def shelf(session: Session, store_id: int) -> dict:
    """The parameters of ``_PRICE`` and ``_NAME``: the store, its wall-clock time now (its
    zone from the replica), which is when scheduled prices take effect, and its language."""
    store = session.get(Store, store_id)
    zone = ZoneInfo(store.timezone if store is not None else "UTC")
    locale = store.locale if store is not None else "en"
    return {"store": store_id, "local_now": clock.now().astimezone(zone).replace(tzinfo=None),
            "name_path": f'$."{locale}"'}


# Promotions change only when the change feed is applied, and that moves the node's feed
# cursor: the active set is cached per database and cursor, so a scan does not re-read them.
_Window = tuple[datetime | None, datetime | None, cart.Promotion]
_promotions: dict[str, tuple[int, list[_Window]]] = {}


def active_promotions(session: Session, feed_cursor: int,
                      at: datetime | None = None) -> list[cart.Promotion]:
    # The till's sessions are bound to its engine (``Database``), never to one connection.
    key = str(cast(Engine, session.get_bind()).url)
    cached = _promotions.get(key)
    if cached is None or cached[0] != feed_cursor:
        rows = session.scalars(select(Promotion).where(Promotion.active))
        cached = (feed_cursor, [
            (p.starts_at, p.ends_at, cart.Promotion(p.id, p.kind, frozenset(p.product_ids),
                                                    p.percent_bp, p.amount_minor, p.n, p.m))
            for p in rows])
        _promotions[key] = cached
    at = at or utcnow()
    return [promo for starts, ends, promo in cached[1]
            if (starts is None or starts <= at) and (ends is None or ends > at)]

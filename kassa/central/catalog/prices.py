"""Prices, central's master data: chain-wide, per region or per store, standing or scheduled for
a store's local time; every change in the change feed for the tills it concerns.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from kassa.central.models import Price, Product, Region, Store
from kassa.central.replication.feed import record_change
from kassa.central.replication.feed_documents import price_doc
from kassa.common.db import utcnow
from kassa.common.errors import Invalid


def set_price(session: Session, product: Product, amount_minor: int,
              store: Store | None = None, region: Region | None = None,
              effective_from: datetime | None = None) -> Price:
    """The price of ``product`` chain-wide, in a region or in one store, from
    ``effective_from`` (a local wall-clock time, no zone; ``None``: now and until changed).
    Setting the same scope and start again changes that row."""
    if amount_minor < 0:
        raise Invalid("A price cannot be negative.", code="bad_price")
    if store is not None and region is not None:
        raise Invalid("A price is for a store or a region, not both.", code="bad_price_scope")
    if effective_from is not None and effective_from.tzinfo is not None:
        raise Invalid("effective_from is a local time, without a zone.", code="bad_price")
    if effective_from is not None and not 2000 <= effective_from.year <= 2999:
        raise Invalid("effective_from is a time from 2000 to 2999.", code="bad_price")
    store_id, region_id = (store.id if store else None), (region.id if region else None)
    price = session.scalars(select(Price).where(
        Price.product_id == product.id, same(Price.store_id, store_id),
        same(Price.region_id, region_id), same(Price.effective_from, effective_from))).first()
    if price is None:
        price = Price(product_id=product.id, store_id=store_id, region_id=region_id,
                      effective_from=effective_from, amount_minor=amount_minor)
        session.add(price)
    price.amount_minor = amount_minor
    session.flush()
    record_change(session, "price", price.id, price_doc(price), store_id=store_id,
                  region_id=region_id)
    if effective_from is None:
        drop_started(session, [product.id], store_id, region_id)
    return price


def drop_started(session: Session, product_ids: list[int], store_id: int | None,
                 region_id: int | None) -> int:
    """A new standing price means "from now on": the scope's scheduled rows that have started
    (in any of its stores, by that store's clock) would outrank it at the tills, so they go,
    with tombstones; changes still ahead everywhere stay."""
    if not product_ids:
        return 0
    stores = select(Store.timezone).distinct()
    if store_id is not None:
        stores = stores.where(Store.id == store_id)
    elif region_id is not None:
        stores = stores.where(Store.region_id == region_id)
    zones = list(session.scalars(stores)) or ["UTC"]
    now = utcnow()
    latest = max(now.astimezone(ZoneInfo(zone)).replace(tzinfo=None) for zone in zones)
    started = list(session.scalars(select(Price).where(
        Price.product_id.in_(product_ids), same(Price.store_id, store_id),
        same(Price.region_id, region_id), Price.effective_from.is_not(None),
        Price.effective_from <= latest)))
    for row in started:
        record_change(session, "price", row.id, None, store_id=row.store_id,
                      region_id=row.region_id)
        session.delete(row)
    session.flush()
    return len(started)


def same(column, value):
    return column.is_(None) if value is None else column == value


def delete_price(session: Session, price: Price) -> None:
    """Remove a store's or region's price, or a scheduled change (what applied before applies
    again); a tombstone tells the nodes concerned. The chain-wide standing price is changed,
    never deleted."""
    if price.store_id is None and price.region_id is None and price.effective_from is None:
        raise Invalid("The chain-wide price cannot be deleted; set another.",
                      code="chain_price_required")
    record_change(session, "price", price.id, None, store_id=price.store_id,
                  region_id=price.region_id)
    session.delete(price)
    session.flush()

"""Prices, central's master data: chain-wide, per region or per store, standing or scheduled for
a store's local time; every change in the change feed for the tills it concerns.

A regional manager prices their region and its stores, never the chain; a store manager reads
their own store's prices. ``price_product`` and ``withdraw_price`` are what the API calls, with
that check and the audit line.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ScalarSelect, or_, select
from sqlalchemy.orm import Session, aliased

from kassa.central.access import audit
from kassa.central.models import Price, Product, Region, Store, User
from kassa.central.replication.feed import record_change
from kassa.central.replication.feed_documents import price_doc
from kassa.common.db import utcnow
from kassa.common.errors import Forbidden, Invalid, NotFound
from kassa.sync.payloads import jsonable

# The chain's standing price of a product: no store, no region, no start.
CHAIN_STANDING = (Price.store_id.is_(None), Price.region_id.is_(None),
                  Price.effective_from.is_(None))


def chain_prices(session: Session, product_ids: list[int]) -> dict[int, int]:
    """The chain's standing price of each product, by id (none for a product without one)."""
    return dict(session.execute(select(Price.product_id, Price.amount_minor).where(
        Price.product_id.in_(product_ids), *CHAIN_STANDING)).all())


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


def prune_superseded(session: Session) -> int:
    """Delete scheduled prices that a later scheduled price of the same scope has replaced in
    every store (by the earliest of the stores' clocks), with tombstones for the tills; answers
    how many. A chain running for years would otherwise carry every price it ever had to each
    new till. What stays: every standing price, the scheduled price in force now in each scope
    and every one still ahead anywhere. Withdrawing the one in force then falls back to the
    standing price, not to a schedule it replaced long ago (docs/operations.md)."""
    zones = list(session.scalars(select(Store.timezone).distinct())) or ["UTC"]
    now = utcnow()
    earliest = min(now.astimezone(ZoneInfo(zone)).replace(tzinfo=None) for zone in zones)
    newer = aliased(Price)
    replaced = select(newer.id).where(
        newer.product_id == Price.product_id,
        or_(newer.store_id == Price.store_id,
            newer.store_id.is_(None) & Price.store_id.is_(None)),
        or_(newer.region_id == Price.region_id,
            newer.region_id.is_(None) & Price.region_id.is_(None)),
        newer.effective_from > Price.effective_from, newer.effective_from <= earliest)
    rows = list(session.scalars(select(Price).where(
        Price.effective_from.is_not(None), Price.effective_from <= earliest,
        replaced.exists())))
    for row in rows:
        record_change(session, "price", row.id, None, store_id=row.store_id,
                      region_id=row.region_id)
        session.delete(row)
    session.flush()
    return len(rows)


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


def visible_prices(user: User):
    """Price rows a person may see: everything, or the chain's, their region's and its
    stores' (a store manager: their own store's, not the region's other stores')."""
    if user.role in ("admin", "central_office"):
        return None
    own_region: ScalarSelect[Any] | int | None
    if user.role == "store_manager":
        own_region = select(Store.region_id).where(Store.id == user.store_id).scalar_subquery()
        stores = Price.store_id == user.store_id
    else:
        own_region = user.region_id
        stores = Price.store_id.in_(select(Store.id).where(Store.region_id == user.region_id))
    return or_(Price.store_id.is_(None) & (Price.region_id.is_(None)
                                           | (Price.region_id == own_region)), stores)


_StoreOf = aliased(Store)
_RegionOf = aliased(Region)
_ROWS = (select(Price.id, Product.sku, Price.amount_minor, _StoreOf.code.label("store_code"),
                _RegionOf.code.label("region_code"), Price.effective_from)
         .join(Product, Product.id == Price.product_id)
         .outerjoin(_StoreOf, _StoreOf.id == Price.store_id)
         .outerjoin(_RegionOf, _RegionOf.id == Price.region_id))


def price_rows(session: Session, user: User, *, sku: str | None = None,
               store_code: str | None = None, region_code: str | None = None,
               limit: int = 500) -> list[dict]:
    """Price rows the person may see, standing and scheduled, by SKU and scope."""
    stmt = _ROWS
    visible = visible_prices(user)
    if visible is not None:
        stmt = stmt.where(visible)
    if sku is not None:
        stmt = stmt.where(Product.sku == sku)
    if store_code is not None:
        stmt = stmt.where(_StoreOf.code == store_code)
    if region_code is not None:
        stmt = stmt.where(_RegionOf.code == region_code)
    stmt = stmt.order_by(Product.sku, Price.store_id.nullsfirst(), Price.region_id.nullsfirst(),
                         Price.effective_from.nullsfirst(), Price.id).limit(limit)
    return [dict(r._mapping) for r in session.execute(stmt)]


def _row(session: Session, price_id: int) -> dict:
    return dict(session.execute(_ROWS.where(Price.id == price_id)).one()._mapping)


def _target(session: Session, user: User, store_code: str | None,
            region_code: str | None) -> tuple[Store | None, Region | None]:
    """The store or region a price is for, if this person may price it (404 for a store or
    region out of their reach, as if it did not exist; 403 for chain-wide prices)."""
    store = region = None
    if store_code:
        store = session.scalars(select(Store).where(Store.code == store_code)).first()
        if store is None or (user.role == "regional_manager"
                             and store.region_id != user.region_id):
            raise NotFound("No store %(store)s.", code="store_not_found", store=store_code)
    elif region_code:
        region = session.scalars(select(Region).where(Region.code == region_code)).first()
        if region is None or (user.role == "regional_manager" and region.id != user.region_id):
            raise NotFound("No region %(region)s.", code="region_not_found", region=region_code)
    elif user.role == "regional_manager":
        raise Forbidden("A regional manager prices their region or its stores, not the chain.",
                        code="out_of_scope")
    return store, region


def price_product(session: Session, actor: User, *, sku: str, amount_minor: int,
                  store_code: str | None, region_code: str | None,
                  effective_from: datetime | None) -> dict:
    """Set a price for the chain, a region or a store, now or from a local time (the same
    scope and start again changes that price)."""
    product = session.scalars(select(Product).where(Product.sku == sku)).first()
    if product is None:
        raise NotFound("No product %(sku)s.", code="product_not_found", sku=sku)
    store, region = _target(session, actor, store_code, region_code)
    before_id = session.scalars(select(Price.id).where(
        Price.product_id == product.id, same(Price.store_id, store and store.id),
        same(Price.region_id, region and region.id),
        same(Price.effective_from, effective_from))).first()
    before = _row(session, before_id) if before_id else None
    price = set_price(session, product, amount_minor, store=store, region=region,
                      effective_from=effective_from)
    after = _row(session, price.id)
    audit.change(session, actor.id, "price", f"{product.sku} #{price.id}",
                 before and jsonable(before), jsonable(after))
    return after


def withdraw_price(session: Session, actor: User, price_id: int) -> None:
    """Withdraw a store's or region's price or a scheduled change (what applied before
    applies again); the chain's standing price can only be changed."""
    price = session.get(Price, price_id, with_for_update=True)
    visible = visible_prices(actor)
    if price is None or (visible is not None and not session.scalar(
            select(Price.id).where(Price.id == price_id, visible))):
        raise NotFound("No such price.", code="price_not_found")
    if actor.role == "regional_manager" and price.store_id is None and price.region_id is None:
        raise Forbidden("A regional manager prices their region or its stores, not the chain.",
                        code="out_of_scope")
    before = _row(session, price_id)
    delete_price(session, price)
    audit.change(session, actor.id, "price", f"{before['sku']} #{price_id}",
                 jsonable(before), None)

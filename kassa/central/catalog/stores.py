"""Regions and stores, central's master data: one function per change, each also writing the
change feed (a till gets its own store's document; regions travel inside their stores').

The ``open_*`` and ``change_*`` functions are what the API calls: they check who may do it and
what would clash, and write the audit line with the record before and after. Callers pass a
session inside their transaction; a refusal rolls all of it back.
"""

from __future__ import annotations

from types import SimpleNamespace
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from kassa.central.access import audit
from kassa.central.models import Region, Store, User
from kassa.central.replication.feed import record_change
from kassa.central.replication.feed_documents import region_doc, store_doc
from kassa.common.db import locked
from kassa.common.errors import Conflict, Invalid, NotFound
from kassa.common.i18n import DEFAULT_CURRENCY, DEFAULT_LOCALE

# -- regions ---------------------------------------------------------------------------------


def create_region(session: Session, code: str, name: str) -> Region:
    region = Region(code=code, name=name)
    session.add(region)
    session.flush()
    region_changed(session, region)
    return region


def rename_region(session: Session, region: Region, name: str) -> Region:
    region.name = name
    session.flush()
    region_changed(session, region)
    return region


def region_changed(session: Session, region: Region) -> None:
    """Regions are in the feed like the rest of master data; a till keeps none (its store's
    document names its region), other readers of the feed may."""
    record_change(session, "region", region.id, region_doc(region))


def region_view(region: Region) -> dict:
    return {"id": region.id, "code": region.code, "name": region.name}


def regions_seen_by(session: Session, user: User) -> list[dict]:
    """The regions the person may see (a regional manager: their own)."""
    stmt = select(Region).order_by(Region.code)
    if user.role == "regional_manager":
        stmt = stmt.where(Region.id == user.region_id)
    return [region_view(r) for r in session.scalars(stmt)]


def open_region(session: Session, actor: User, code: str, name: str) -> dict:
    if session.scalar(select(Region.id).where(Region.code == code)):
        raise Conflict("Region %(region)s exists already.", code="duplicate_region", region=code)
    after = region_view(create_region(session, code, name))
    audit.change(session, actor.id, "region", code, None, after)
    return after


def change_region(session: Session, actor: User, region_id: int, name: str) -> dict:
    """Rename a region (its code, which tills know it by, stays)."""
    region = locked(session, Region, region_id,
                    NotFound("No such region.", code="region_not_found"))
    with audit.change_of(session, actor.id, "region", region.code, lambda: region_view(region)):
        if name != region.name:
            rename_region(session, region, name)
    return region_view(region)


# -- stores ----------------------------------------------------------------------------------

def create_store(session: Session, code: str, name: str, region: Region,
                 timezone: str = "UTC", locale: str = DEFAULT_LOCALE,
                 currency: str = DEFAULT_CURRENCY, address: str = "") -> Store:
    store = Store(code=code, name=name, region_id=region.id, timezone=check_timezone(timezone),
                  locale=locale, currency=currency, address=address)
    session.add(store)
    session.flush()
    _store_changed(session, store, region.code)
    return store


def _store_changed(session: Session, store: Store, region_code: str) -> None:
    record_change(session, "store", store.id,
                  store_doc(SimpleNamespace(**store_view(store, region_code))))


def check_timezone(name: str) -> str:
    """An IANA zone name the machine knows (``Europe/Moscow``), else ``bad_timezone``."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid("Unknown time zone %(zone)s.", code="bad_timezone",
                      zone=repr(name)) from None
    return name


def store_by_code(session: Session, code: str) -> Store:
    store = session.scalars(select(Store).where(Store.code == code)).first()
    if store is None:
        raise NotFound("No store %(store)s.", code="store_not_found", store=code)
    return store


def store_view(store: Store, region_code: str) -> dict:
    return {"id": store.id, "code": store.code, "name": store.name, "region_code": region_code,
            "timezone": store.timezone, "locale": store.locale, "currency": store.currency,
            "address": store.address}


def stores_seen_by(user: User) -> Select:
    """Stores with their region's code, as far as the person reaches (a regional manager:
    their region's; a store manager: their own)."""
    stmt = select(Store, Region.code).join(Region, Region.id == Store.region_id)
    if user.role == "regional_manager":
        stmt = stmt.where(Store.region_id == user.region_id)
    elif user.role == "store_manager":
        stmt = stmt.where(Store.id == user.store_id)
    return stmt


def open_store(session: Session, actor: User, *, code: str, name: str, region_code: str,
               timezone: str, locale: str, currency: str, address: str = "") -> dict:
    """Open a store in a region; its tills can be enrolled once it exists."""
    region = session.scalars(select(Region).where(Region.code == region_code)).first()
    if region is None:
        raise NotFound("No region %(region)s.", code="region_not_found", region=region_code)
    if session.scalar(select(Store.id).where(Store.code == code)):
        raise Conflict("Store %(store)s exists already.", code="duplicate_store", store=code)
    store = create_store(session, code, name, region, timezone, locale, currency, address)
    after = store_view(store, region.code)
    audit.change(session, actor.id, "store", store.code, None, after)
    return after


def change_store(session: Session, actor: User, store_id: int, changes: dict) -> dict:
    """Rename a store or set its address, time zone, language or currency (within the actor's reach:
    out of it, the store answers as if it did not exist)."""
    row = session.execute(stores_seen_by(actor).where(Store.id == store_id)
                          .with_for_update(of=Store)).first()
    if row is None:
        raise NotFound("No such store.", code="store_not_found")
    store, region_code = row
    before = store_view(store, region_code)
    if "timezone" in changes:
        store.timezone = check_timezone(changes["timezone"])
    store.name = changes.get("name", store.name)
    store.locale = changes.get("locale", store.locale)
    store.currency = changes.get("currency", store.currency)
    store.address = changes.get("address", store.address)
    session.flush()
    after = store_view(store, region_code)
    if after != before:
        _store_changed(session, store, region_code)
        audit.change(session, actor.id, "store", store.code, before, after)
    return after

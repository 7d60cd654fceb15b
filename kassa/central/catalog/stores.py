"""Regions and stores, central's master data: one function per change, each also writing the
change feed (a till gets its own store's document; regions travel inside their stores').
"""

from __future__ import annotations

from types import SimpleNamespace
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from kassa.central.models import Region, Store
from kassa.central.replication.feed import record_change
from kassa.central.replication.feed_documents import region_doc, store_doc
from kassa.common.errors import Invalid, NotFound
from kassa.common.i18n import DEFAULT_CURRENCY, DEFAULT_LOCALE


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


def create_store(session: Session, code: str, name: str, region: Region,
                 timezone: str = "UTC") -> Store:
    store = Store(code=code, name=name, region_id=region.id, timezone=check_timezone(timezone))
    session.add(store)
    session.flush()
    record_change(session, "store", store.id, store_doc(SimpleNamespace(
        id=store.id, code=code, name=name, region_code=region.code, timezone=store.timezone,
        locale=store.locale or DEFAULT_LOCALE, currency=store.currency or DEFAULT_CURRENCY)))
    return store


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

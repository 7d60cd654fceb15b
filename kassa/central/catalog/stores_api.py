"""Stores as master data over HTTP: list (scoped), open one, rename one; each change goes to
the change feed for the tills and to the audit log with its before and after."""

from __future__ import annotations

from types import SimpleNamespace

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate
from sqlalchemy import select

from kassa.central.access import audit
from kassa.central.access.auth import require_role
from kassa.central.catalog.stores import check_timezone
from kassa.central.handlers import OPERATORS, PEOPLE, STAFF, db
from kassa.central.models import Region, Store, User
from kassa.central.replication.feed import record_change
from kassa.central.replication.feed_documents import store_doc
from kassa.common.errors import Conflict, NotFound
from kassa.common.i18n import CURRENCIES, DEFAULT_CURRENCY, DEFAULT_LOCALE, LOCALES

bp = Blueprint("stores", __name__, url_prefix="/api/v1/stores", description="Stores")
CURRENCY = validate.OneOf(CURRENCIES, error="an ISO 4217 currency code, e.g. RUB")
CODE = validate.Regexp(r"^[A-Z0-9-]{2,32}\Z", error="2-32 capital letters, digits or dashes")


class StoreSchema(ma.Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    region_code = fields.String()
    timezone = fields.String()
    locale = fields.String(metadata={"description": "the tills' and receipts' language"})
    currency = fields.String(metadata={"description": "ISO 4217 code, e.g. RUB"})


class StoreListSchema(ma.Schema):
    stores = fields.List(fields.Nested(StoreSchema))


class NewStoreSchema(ma.Schema):
    code = fields.String(required=True, validate=CODE)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    region_code = fields.String(required=True, validate=CODE)
    timezone = fields.String(load_default="UTC", validate=validate.Length(min=1, max=64),
                             metadata={"description": "IANA zone, e.g. Europe/Moscow"})
    locale = fields.String(load_default=DEFAULT_LOCALE, validate=validate.OneOf(LOCALES))
    currency = fields.String(load_default=DEFAULT_CURRENCY, validate=CURRENCY)


class StorePatchSchema(ma.Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    timezone = fields.String(validate=validate.Length(min=1, max=64))
    locale = fields.String(validate=validate.OneOf(LOCALES))
    currency = fields.String(validate=CURRENCY)


def _view(store: Store, region_code: str) -> dict:
    return {"id": store.id, "code": store.code, "name": store.name, "region_code": region_code,
            "timezone": store.timezone, "locale": store.locale, "currency": store.currency}


def _scoped(user: User):
    stmt = select(Store, Region.code).join(Region, Region.id == Store.region_id)
    if user.role == "regional_manager":
        stmt = stmt.where(Store.region_id == user.region_id)
    elif user.role == "store_manager":
        stmt = stmt.where(Store.id == user.store_id)
    return stmt


@bp.route("")
class Stores(MethodView):
    @require_role(*PEOPLE)
    @bp.response(200, StoreListSchema)
    def get(self):
        """The stores the signed-in person may see (their region's, their own)."""
        with db().read() as session:
            return {"stores": [_view(s, code) for s, code in
                               session.execute(_scoped(g.user).order_by(Store.code))]}

    @require_role(*OPERATORS)
    @bp.arguments(NewStoreSchema)
    @bp.response(201, StoreSchema)
    def post(self, body):
        """Open a store in a region; its tills can be enrolled once it exists."""
        with db().transaction() as session:
            region = session.scalars(select(Region).where(
                Region.code == body["region_code"])).first()
            if region is None:
                raise NotFound("No region %(region)s.", code="region_not_found",
                               region=body["region_code"])
            if session.scalar(select(Store.id).where(Store.code == body["code"])):
                raise Conflict("Store %(store)s exists already.", code="duplicate_store",
                               store=body["code"])
            store = Store(code=body["code"], name=body["name"], region_id=region.id,
                          timezone=check_timezone(body["timezone"]), locale=body["locale"],
                          currency=body["currency"])
            session.add(store)
            session.flush()
            after = _view(store, region.code)
            record_change(session, "store", store.id, store_doc(SimpleNamespace(**after)))
            audit.change(session, g.user.id, "store", store.code, None, after)
            return after


@bp.route("/<int(min=1, max=2147483647):store_id>")
class OneStore(MethodView):
    decorators = [require_role(*STAFF)]

    @bp.arguments(StorePatchSchema)
    @bp.response(200, StoreSchema)
    def patch(self, body, store_id):
        """Rename a store or set its time zone, language or currency (a regional manager: one
        of their region's)."""
        with db().transaction() as session:
            row = session.execute(_scoped(g.user).where(Store.id == store_id)
                                  .with_for_update(of=Store)).first()
            if row is None:
                raise NotFound("No such store.", code="store_not_found")
            store, region_code = row
            before = _view(store, region_code)
            if "timezone" in body:
                store.timezone = check_timezone(body["timezone"])
            store.name = body.get("name", store.name)
            store.locale = body.get("locale", store.locale)
            store.currency = body.get("currency", store.currency)
            session.flush()
            after = _view(store, region_code)
            if after != before:
                record_change(session, "store", store.id,
                              store_doc(SimpleNamespace(**after)))
                audit.change(session, g.user.id, "store", store.code, before, after)
            return after

"""Stores as master data over HTTP: list (scoped), open one, rename one; each change goes to
the change feed for the tills and to the audit log with its before and after."""

from __future__ import annotations

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from kassa.central.access.auth import require_role
from kassa.central.catalog import stores
from kassa.central.handlers import CODE, OPERATORS, PEOPLE, STAFF, db
from kassa.central.models import Store
from kassa.common.i18n import CURRENCIES, DEFAULT_CURRENCY, DEFAULT_LOCALE, LOCALES

bp = Blueprint("stores", __name__, url_prefix="/api/v1/stores", description="Stores")
CURRENCY = validate.OneOf(CURRENCIES, error="an ISO 4217 currency code, e.g. RUB")


class StoreSchema(ma.Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    region_code = fields.String()
    timezone = fields.String()
    locale = fields.String(metadata={"description": "the tills' and receipts' language"})
    currency = fields.String(metadata={"description": "ISO 4217 code, e.g. RUB"})
    address = fields.String(metadata={"description": "printed on the store's receipts"})


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
    address = fields.String(load_default="", validate=validate.Length(max=300))


class StorePatchSchema(ma.Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    timezone = fields.String(validate=validate.Length(min=1, max=64))
    locale = fields.String(validate=validate.OneOf(LOCALES))
    currency = fields.String(validate=CURRENCY)
    address = fields.String(validate=validate.Length(max=300))


@bp.route("")
class Stores(MethodView):
    @require_role(*PEOPLE)
    @bp.response(200, StoreListSchema)
    def get(self):
        """The stores the signed-in person may see (their region's, their own)."""
        with db().read() as session:
            return {"stores": [stores.store_view(s, code) for s, code in session.execute(
                stores.stores_seen_by(g.user).order_by(Store.code))]}

    @require_role(*OPERATORS)
    @bp.arguments(NewStoreSchema)
    @bp.response(201, StoreSchema)
    def post(self, body):
        """Open a store in a region; its tills can be enrolled once it exists."""
        with db().transaction() as session:
            return stores.open_store(session, g.user, **body)


@bp.route("/<int(min=1, max=2147483647):store_id>")
class OneStore(MethodView):
    decorators = [require_role(*STAFF)]

    @bp.arguments(StorePatchSchema)
    @bp.response(200, StoreSchema)
    def patch(self, body, store_id):
        """Rename a store or set its time zone, language or currency (a regional manager: one
        of their region's)."""
        with db().transaction() as session:
            return stores.change_store(session, g.user, store_id, body)

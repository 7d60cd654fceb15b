"""Prices over HTTP: chain-wide, per region or per store, now or scheduled for a local time.

A regional manager prices only their region and its stores; central office and admins price
anything. Each change goes to the change feed (to the nodes it concerns only) and to the audit
log with its before and after.
"""

from __future__ import annotations

import marshmallow as ma
from flask import Response, g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate, validates_schema
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from kassa.central.access import audit
from kassa.central.access.auth import require_role
from kassa.central.catalog import price_imports
from kassa.central.catalog.prices import delete_price, same, set_price
from kassa.central.catalog.products_api import ImportReportSchema
from kassa.central.handlers import PEOPLE, STAFF, ImportArgsSchema, csv_body, db
from kassa.central.models import Price, Product, Region, Store, User
from kassa.common.errors import Forbidden, NotFound
from kassa.common.web import CSV_TEXT, report_or_refusal

bp = Blueprint("prices", __name__, url_prefix="/api/v1/prices",
               description="Prices per chain, region and store, with scheduled changes")


class PriceSchema(ma.Schema):
    id = fields.Integer()
    sku = fields.String()
    amount_minor = fields.Integer()
    store_code = fields.String(allow_none=True)
    region_code = fields.String(allow_none=True)
    effective_from = fields.NaiveDateTime(allow_none=True, metadata={
        "description": "local wall-clock time in each store's own zone; null: standing price"})


class PriceListSchema(ma.Schema):
    prices = fields.List(fields.Nested(PriceSchema))


class PriceQuerySchema(ma.Schema):
    sku = fields.String(validate=validate.Length(min=1, max=64))
    store_code = fields.String(validate=validate.Length(min=1, max=32))
    region_code = fields.String(validate=validate.Length(min=1, max=32))
    limit = fields.Integer(load_default=500, validate=validate.Range(min=1, max=5000))


class NewPriceSchema(ma.Schema):
    sku = fields.String(required=True, validate=validate.Length(min=1, max=64))
    amount_minor = fields.Integer(required=True, strict=True,
                                  validate=validate.Range(min=0, max=10**12))
    store_code = fields.String(load_default=None, allow_none=True,
                               validate=validate.Length(min=1, max=32))
    region_code = fields.String(load_default=None, allow_none=True,
                                validate=validate.Length(min=1, max=32))
    effective_from = fields.NaiveDateTime(load_default=None, allow_none=True, metadata={
        "description": "when it takes effect, in each store's local time (ISO, no zone)"})

    @validates_schema
    def one_scope(self, data, **_kwargs):
        if data.get("store_code") and data.get("region_code"):
            raise ma.ValidationError("Give a store or a region, not both.", "store_code")


_StoreOf = aliased(Store)
_RegionOf = aliased(Region)
_LIST = (select(Price.id, Product.sku, Price.amount_minor, _StoreOf.code.label("store_code"),
                _RegionOf.code.label("region_code"), Price.effective_from)
         .join(Product, Product.id == Price.product_id)
         .outerjoin(_StoreOf, _StoreOf.id == Price.store_id)
         .outerjoin(_RegionOf, _RegionOf.id == Price.region_id))


def _view(row) -> dict:
    return dict(row._mapping)


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


_DUMP = PriceSchema().dump  # JSON-ready, for the audit log


def _one(session: Session, price_id: int) -> dict:
    return _view(session.execute(_LIST.where(Price.id == price_id)).one())


@bp.route("")
class Prices(MethodView):
    @require_role(*PEOPLE)
    @bp.arguments(PriceQuerySchema, location="query")
    @bp.response(200, PriceListSchema)
    def get(self, args):
        """Price rows the signed-in person may see, standing and scheduled, by SKU and scope."""
        stmt = _LIST
        visible = price_imports.visible_prices(g.user)
        if visible is not None:
            stmt = stmt.where(visible)
        if "sku" in args:
            stmt = stmt.where(Product.sku == args["sku"])
        if "store_code" in args:
            stmt = stmt.where(_StoreOf.code == args["store_code"])
        if "region_code" in args:
            stmt = stmt.where(_RegionOf.code == args["region_code"])
        stmt = stmt.order_by(Product.sku, Price.store_id.nullsfirst(),
                             Price.region_id.nullsfirst(), Price.effective_from.nullsfirst(),
                             Price.id).limit(args["limit"])
        with db().read() as session:
            return {"prices": [_view(r) for r in session.execute(stmt)]}

    @require_role(*STAFF)
    @bp.arguments(NewPriceSchema)
    @bp.response(201, PriceSchema)
    def post(self, body):
        """Set a price for the chain, a region or a store, now or from a local time (the same
        scope and start again changes that price)."""
        with db().transaction() as session:
            product = session.scalars(select(Product).where(Product.sku == body["sku"])).first()
            if product is None:
                raise NotFound("No product %(sku)s.", code="product_not_found", sku=body["sku"])
            store, region = _target(session, g.user, body["store_code"], body["region_code"])
            before = session.scalars(select(Price.id).where(
                Price.product_id == product.id, same(Price.store_id, store and store.id),
                same(Price.region_id, region and region.id),
                same(Price.effective_from, body["effective_from"]))).first()
            before = _one(session, before) if before else None
            price = set_price(session, product, body["amount_minor"], store=store,
                              region=region, effective_from=body["effective_from"])
            after = _one(session, price.id)
            audit.change(session, g.user.id, "price", f"{product.sku} #{price.id}",
                         before and _DUMP(before), _DUMP(after))
            return after


@bp.route("/import")
class ImportPrices(MethodView):
    decorators = [require_role(*STAFF)]

    @bp.arguments(ImportArgsSchema, location="query")
    @bp.response(200, ImportReportSchema)
    @bp.alt_response(422, schema=report_or_refusal(ImportReportSchema),
                     description="bad rows, nothing written")
    def post(self, args):
        """Import a price list from a CSV body (``text/csv``; columns
        ``sku,store_code,region_code,price,effective_from``)."""
        text = csv_body()
        with db().transaction() as session:
            report = price_imports.import_prices(session, text, g.user,
                                                 skip_bad=args["skip_bad"])
        if report.errors and not args["skip_bad"]:
            return ImportReportSchema().dump(report), 422
        return report


@bp.route("/export")
class ExportPrices(MethodView):
    decorators = [require_role(*PEOPLE)]

    @bp.response(200, CSV_TEXT, description="the price rows as CSV, in the import's columns",
                 content_type="text/csv")
    def get(self):
        """Every price row the signed-in person may see, as CSV."""
        with db().read() as session:
            text = price_imports.export_prices(session, g.user)
        return Response(text, mimetype="text/csv",
                        headers={"Content-Disposition": "attachment; filename=prices.csv"})


@bp.route("/<int(min=1, max=2147483647):price_id>")
class OnePrice(MethodView):
    decorators = [require_role(*STAFF)]

    @bp.response(204)
    def delete(self, price_id):
        """Withdraw a store's or region's price or a scheduled change (what applied before
        applies again); the chain's standing price can only be changed."""
        with db().transaction() as session:
            price = session.get(Price, price_id, with_for_update=True)
            visible = price_imports.visible_prices(g.user)
            if price is None or (visible is not None and not session.scalar(
                    select(Price.id).where(Price.id == price_id, visible))):
                raise NotFound("No such price.", code="price_not_found")
            if g.user.role == "regional_manager" and price.store_id is None \
                    and price.region_id is None:
                raise Forbidden("A regional manager prices their region or its stores, not "
                                "the chain.", code="out_of_scope")
            before = _one(session, price_id)
            delete_price(session, price)
            audit.change(session, g.user.id, "price", f"{before['sku']} #{price_id}",
                         _DUMP(before), None)

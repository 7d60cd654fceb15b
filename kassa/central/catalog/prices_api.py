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

from kassa.central.access.auth import require_role
from kassa.central.catalog import price_imports, prices
from kassa.central.catalog.products_api import ImportReportSchema
from kassa.central.handlers import PEOPLE, STAFF, ImportArgsSchema, csv_body, db
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


@bp.route("")
class Prices(MethodView):
    @require_role(*PEOPLE)
    @bp.arguments(PriceQuerySchema, location="query")
    @bp.response(200, PriceListSchema)
    def get(self, args):
        """Price rows the signed-in person may see, standing and scheduled, by SKU and scope."""
        with db().read() as session:
            return {"prices": prices.price_rows(session, g.user, **args)}

    @require_role(*STAFF)
    @bp.arguments(NewPriceSchema)
    @bp.response(201, PriceSchema)
    def post(self, body):
        """Set a price for the chain, a region or a store, now or from a local time (the same
        scope and start again changes that price)."""
        with db().transaction() as session:
            return prices.price_product(session, g.user, **body)


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
            prices.withdraw_price(session, g.user, price_id)

"""Products over HTTP: one at a time (with their barcodes and category), and with their
chain-wide prices in bulk as CSV (``kassa.central.catalog.product_imports``). Every change goes to
the tills at their next pull and to the audit log with its before and after."""

from __future__ import annotations

import marshmallow as ma
from flask import Response, g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from kassa.central.access.auth import require_role
from kassa.central.catalog import product_imports, products
from kassa.central.handlers import OPERATORS, PEOPLE, ImportArgsSchema, csv_body, db
from kassa.common.i18n import LOCALES
from kassa.common.web import CSV_TEXT, report_or_refusal

bp = Blueprint("masterdata", __name__, url_prefix="/api/v1/products",
               description="Products, one at a time or in bulk")


class ImportErrorSchema(ma.Schema):
    line = fields.Integer()
    sku = fields.String()
    field = fields.String()
    message = fields.String()


class ImportReportSchema(ma.Schema):
    written = fields.Boolean()
    created = fields.Integer()
    updated = fields.Integer()
    skipped = fields.Integer()
    errors = fields.List(fields.Nested(ImportErrorSchema))


BARCODE = validate.Regexp(r"^[0-9]{8,14}\Z", error="8 to 14 digits")


def names_field(**kwargs) -> fields.Dict:
    """{"ru": "Молоко 3,2% 1 л"}: the name in the chain's other languages."""
    return fields.Dict(keys=fields.String(validate=validate.OneOf(LOCALES)),
                       values=fields.String(validate=validate.Length(max=200)),
                       allow_none=True, validate=validate.Length(max=len(LOCALES)),
                       metadata={"description": "the name in other languages, by locale"},
                       **kwargs)


class ProductSchema(ma.Schema):
    sku = fields.String()
    name = fields.String()
    names = fields.Dict(keys=fields.String(), values=fields.String(),
                        metadata={"description": "the name in other languages, by locale"})
    vat_rate_bp = fields.Integer()
    unit = fields.String()
    category = fields.String(allow_none=True)
    active = fields.Boolean()
    barcodes = fields.List(fields.String())
    price_minor = fields.Integer(allow_none=True, metadata={"description": "chain-wide"})


class ProductListSchema(ma.Schema):
    products = fields.List(fields.Nested(ProductSchema))


class ProductQuerySchema(ma.Schema):
    q = fields.String(load_default="", validate=validate.Length(max=64),
                      metadata={"description": "part of the SKU or the name"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class NewProductSchema(ma.Schema):
    sku = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9._-]{1,64}\Z"))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    names = names_field(load_default=None)
    vat_rate_bp = fields.Integer(required=True, strict=True,
                                 validate=validate.Range(min=0, max=10_000))
    unit = fields.String(load_default="pcs", validate=validate.OneOf(("pcs", "kg")))
    category = fields.String(load_default=None, allow_none=True,
                             validate=validate.Length(min=1, max=64))
    barcodes = fields.List(fields.String(validate=BARCODE), load_default=list,
                           validate=validate.Length(max=50))
    price_minor = fields.Integer(required=True, strict=True,
                                 validate=validate.Range(min=0, max=10**12))


class ProductPatchSchema(ma.Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    names = names_field()
    vat_rate_bp = fields.Integer(strict=True, validate=validate.Range(min=0, max=10_000))
    unit = fields.String(validate=validate.OneOf(("pcs", "kg")))
    category = fields.String(allow_none=True, validate=validate.Length(min=1, max=64))
    active = fields.Boolean()
    barcodes = fields.List(fields.String(validate=BARCODE), validate=validate.Length(max=50))


@bp.route("")
class Products(MethodView):
    @require_role(*PEOPLE)
    @bp.arguments(ProductQuerySchema, location="query")
    @bp.response(200, ProductListSchema)
    def get(self, args):
        """Products whose SKU or name holds ``q``, by SKU."""
        with db().read() as session:
            return {"products": products.products_like(session, args["q"], args["limit"])}

    @require_role(*OPERATORS)
    @bp.arguments(NewProductSchema)
    @bp.response(201, ProductSchema)
    def post(self, body):
        """A new product with its barcodes, category and chain-wide price."""
        with db().transaction() as session:
            return products.add_product(session, g.user, **body)


@bp.route("/<string(maxlength=64):sku>")
class OneProduct(MethodView):
    decorators = [require_role(*OPERATORS)]

    @bp.arguments(ProductPatchSchema)
    @bp.response(200, ProductSchema)
    def patch(self, body, sku):
        """Rename, re-categorise, stop or restart selling a product, or replace its barcodes."""
        with db().transaction() as session:
            return products.change_product(session, g.user, sku, body)


@bp.route("/import")
class Import(MethodView):
    decorators = [require_role(*OPERATORS)]

    @bp.arguments(ImportArgsSchema, location="query")
    @bp.response(200, ImportReportSchema)
    @bp.alt_response(422, schema=report_or_refusal(ImportReportSchema),
                     description="bad rows, nothing written")
    def post(self, args):
        """Import products and chain-wide prices from a CSV body (``text/csv``; columns
        ``sku,name,vat_rate_bp,unit,category,barcodes,price,active``)."""
        text = csv_body()
        with db().transaction() as session:
            report = product_imports.import_products(session, text, skip_bad=args["skip_bad"],
                                                     actor_id=g.user.id)
        if report.errors and not args["skip_bad"]:
            return ImportReportSchema().dump(report), 422
        return report


@bp.route("/export")
class Export(MethodView):
    decorators = [require_role(*OPERATORS, "regional_manager")]

    @bp.response(200, CSV_TEXT, description="the products as CSV, in the import's columns",
                 content_type="text/csv")
    def get(self):
        """Every product with its barcodes and chain-wide price, as CSV."""
        with db().read() as session:
            text = product_imports.export_products(session)
        return Response(text, mimetype="text/csv",
                        headers={"Content-Disposition": "attachment; filename=products.csv"})

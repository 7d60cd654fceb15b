"""Products over HTTP: one at a time (with their barcodes and category), and with their
chain-wide prices in bulk as CSV (``kassa.central.catalog.product_imports``). Every change goes to
the tills at their next pull and to the audit log with its before and after."""

from __future__ import annotations

import marshmallow as ma
from flask import Response, g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from kassa.central.access import audit
from kassa.central.access.auth import require_role
from kassa.central.catalog import product_imports
from kassa.central.catalog.products import create_product, update_product
from kassa.central.handlers import OPERATORS, ImportArgsSchema, csv_body, db
from kassa.central.models import Price, Product
from kassa.common.errors import NotFound
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


class ProductSchema(ma.Schema):
    sku = fields.String()
    name = fields.String()
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
    vat_rate_bp = fields.Integer(strict=True, validate=validate.Range(min=0, max=10_000))
    unit = fields.String(validate=validate.OneOf(("pcs", "kg")))
    category = fields.String(allow_none=True, validate=validate.Length(min=1, max=64))
    active = fields.Boolean()
    barcodes = fields.List(fields.String(validate=BARCODE), validate=validate.Length(max=50))


def _prices(session, ids: list[int]) -> dict[int, int]:
    return dict(session.execute(select(Price.product_id, Price.amount_minor).where(
        Price.product_id.in_(ids), *product_imports.CHAIN_STANDING)).all())


def _product_view(session, p: Product, price: int | None = None) -> dict:
    if price is None:
        price = _prices(session, [p.id]).get(p.id)
    return {"sku": p.sku, "name": p.name, "vat_rate_bp": p.vat_rate_bp, "unit": p.unit,
            "category": p.category, "active": p.active,
            "barcodes": sorted(b.barcode for b in p.barcodes), "price_minor": price}


@bp.route("")
class Products(MethodView):
    @require_role(*OPERATORS, "regional_manager", "store_manager")
    @bp.arguments(ProductQuerySchema, location="query")
    @bp.response(200, ProductListSchema)
    def get(self, args):
        """Products whose SKU or name holds ``q``, by SKU."""
        stmt = (select(Product).options(selectinload(Product.barcodes))
                .order_by(Product.sku).limit(args["limit"]))
        if args["q"]:
            like = f"%{args['q'].lower()}%"
            stmt = stmt.where(or_(func.lower(Product.sku).like(like),
                                  func.lower(Product.name).like(like)))
        with db().read() as session:
            products = list(session.scalars(stmt))
            prices = _prices(session, [p.id for p in products])
            return {"products": [_product_view(session, p, prices.get(p.id))
                                 for p in products]}

    @require_role(*OPERATORS)
    @bp.arguments(NewProductSchema)
    @bp.response(201, ProductSchema)
    def post(self, body):
        """A new product with its barcodes, category and chain-wide price."""
        with db().transaction() as session:
            product = create_product(session, body["sku"], body["name"],
                                     body["vat_rate_bp"], body["price_minor"], body["unit"],
                                     tuple(body["barcodes"]), body["category"])
            after = _product_view(session, product)
            audit.change(session, g.user.id, "product", product.sku, None, after)
            return after


@bp.route("/<string(maxlength=64):sku>")
class OneProduct(MethodView):
    decorators = [require_role(*OPERATORS)]

    @bp.arguments(ProductPatchSchema)
    @bp.response(200, ProductSchema)
    def patch(self, body, sku):
        """Rename, re-categorise, stop or restart selling a product, or replace its barcodes."""
        with db().transaction() as session:
            product = session.scalars(select(Product).where(Product.sku == sku)
                                      .with_for_update()).first()
            if product is None:
                raise NotFound("No product %(sku)s.", code="product_not_found", sku=sku)
            before = _product_view(session, product)
            barcodes = body.pop("barcodes", None)
            update_product(session, product, barcodes=tuple(barcodes)
                           if barcodes is not None else None, **body)
            after = _product_view(session, product)
            if after != before:
                audit.change(session, g.user.id, "product", product.sku, before, after)
            return after


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

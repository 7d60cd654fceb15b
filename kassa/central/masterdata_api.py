"""Master data over HTTP: products and prices in bulk as CSV (``kassa.central.imports``)."""

from __future__ import annotations

import marshmallow as ma
from flask import Response, current_app, g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields

from kassa.central import imports
from kassa.central.auth import require_role
from kassa.common.errors import KassaError

bp = Blueprint("masterdata", __name__, url_prefix="/api/v1/products",
               description="Products and prices in bulk")
EDITORS = ("admin", "central_office")


def _db():
    return current_app.extensions["kassa_db"]


class ImportArgsSchema(ma.Schema):
    skip_bad = fields.Boolean(load_default=False, metadata={
        "description": "write the good rows and report the bad ones (default: all or nothing)"})


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


def csv_body() -> str:
    """The request's CSV file as text (415 unless ``text/csv``; 422 unless UTF-8)."""
    if request.mimetype != "text/csv":
        raise KassaError("Send the file as text/csv.", code="unsupported_media_type",
                         status=415)
    try:
        return request.get_data().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise KassaError("The file is not UTF-8.", code="bad_encoding", status=422) from None


@bp.route("/import")
class Import(MethodView):
    decorators = [require_role(*EDITORS)]

    @bp.arguments(ImportArgsSchema, location="query")
    @bp.response(200, ImportReportSchema)
    @bp.alt_response(422, schema=ImportReportSchema, description="bad rows, nothing written")
    def post(self, args):
        """Import products and chain-wide prices from a CSV body (``text/csv``; columns
        ``sku,name,vat_rate_bp,unit,category,barcodes,price,active``)."""
        text = csv_body()
        with _db().transaction() as session:
            report = imports.import_products(session, text, skip_bad=args["skip_bad"],
                                             actor_id=g.user.id)
        if report.errors and not args["skip_bad"]:
            return ImportReportSchema().dump(report), 422
        return report


@bp.route("/export")
class Export(MethodView):
    decorators = [require_role(*EDITORS, "regional_manager")]

    @bp.response(200, description="the products as CSV, in the import's columns",
                 content_type="text/csv")
    def get(self):
        """Every product with its barcodes and chain-wide price, as CSV."""
        with _db().read() as session:
            text = imports.export_products(session)
        return Response(text, mimetype="text/csv",
                        headers={"Content-Disposition": "attachment; filename=products.csv"})

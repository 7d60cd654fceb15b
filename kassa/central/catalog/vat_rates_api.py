"""VAT rates as master data (``/api/v1/vat-rates``): the rates products may carry. The
defaults are a Russian chain's 20 %, 10 % and 0 %; when the law changes a rate, the office
adds the new one, moves the products and retires the old one (kept, since past sales and
receipts name it). Every change is in the audit log with its before and after."""

from __future__ import annotations

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from kassa.central.access.auth import require_role
from kassa.central.catalog import products
from kassa.central.handlers import OPERATORS, PEOPLE, db

bp = Blueprint("vat_rates", __name__, url_prefix="/api/v1/vat-rates",
               description="VAT rates products may carry")


class VatRateSchema(ma.Schema):
    rate_bp = fields.Integer(metadata={"description": "basis points: 2000 = 20 %"})
    name = fields.String()
    active = fields.Boolean()
    products = fields.Integer(metadata={"description": "active products carrying it"})


class VatRateListSchema(ma.Schema):
    rates = fields.List(fields.Nested(VatRateSchema))


class NewVatRateSchema(ma.Schema):
    rate_bp = fields.Integer(required=True, strict=True,
                             validate=validate.Range(min=0, max=10_000))
    name = fields.String(required=True, validate=validate.Length(min=1, max=64))


class VatRatePatchSchema(ma.Schema):
    name = fields.String(validate=validate.Length(min=1, max=64))
    active = fields.Boolean()


@bp.route("")
class VatRates(MethodView):
    @require_role(*PEOPLE)
    @bp.response(200, VatRateListSchema)
    def get(self):
        """Every rate, in force or retired, with how many active products carry it."""
        with db().read() as session:
            return {"rates": products.vat_rates(session)}

    @require_role(*OPERATORS)
    @bp.arguments(NewVatRateSchema)
    @bp.response(201, VatRateSchema)
    def post(self, body):
        """Add a rate products may then carry."""
        with db().transaction() as session:
            return products.add_vat_rate(session, g.user, body["rate_bp"], body["name"])


@bp.route("/<int(min=0, max=10000):rate_bp>")
class OneVatRate(MethodView):
    @require_role(*OPERATORS)
    @bp.arguments(VatRatePatchSchema)
    @bp.response(200, VatRateSchema)
    def patch(self, body, rate_bp):
        """Rename a rate, or retire it (refused while active products carry it) or bring it
        back."""
        with db().transaction() as session:
            return products.change_vat_rate(session, g.user, rate_bp, body)

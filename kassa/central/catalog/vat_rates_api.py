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
from sqlalchemy import func, select

from kassa.central.access import audit
from kassa.central.access.auth import require_role
from kassa.central.handlers import OPERATORS, PEOPLE, db
from kassa.central.models import Product, VatRate
from kassa.common.errors import Conflict, NotFound

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


def _view(rate: VatRate, products: int) -> dict:
    return {"rate_bp": rate.rate_bp, "name": rate.name, "active": rate.active,
            "products": products}


def _carrying(session, rate_bp: int) -> int:
    return session.scalar(select(func.count()).where(Product.vat_rate_bp == rate_bp,
                                                     Product.active)) or 0


@bp.route("")
class VatRates(MethodView):
    @require_role(*PEOPLE)
    @bp.response(200, VatRateListSchema)
    def get(self):
        """Every rate, in force or retired, with how many active products carry it."""
        with db().read() as session:
            counts = dict(session.execute(select(Product.vat_rate_bp, func.count()).where(
                Product.active).group_by(Product.vat_rate_bp)).all())
            return {"rates": [_view(r, counts.get(r.rate_bp, 0)) for r in session.scalars(
                select(VatRate).order_by(VatRate.rate_bp.desc()))]}

    @require_role(*OPERATORS)
    @bp.arguments(NewVatRateSchema)
    @bp.response(201, VatRateSchema)
    def post(self, body):
        """Add a rate products may then carry."""
        with db().transaction() as session:
            if session.get(VatRate, body["rate_bp"]) is not None:
                raise Conflict("This VAT rate exists already.", code="duplicate_vat_rate")
            rate = VatRate(rate_bp=body["rate_bp"], name=body["name"], active=True)
            session.add(rate)
            after = _view(rate, 0)
            audit.change(session, g.user.id, "vat_rate", rate.rate_bp, None, after)
            return after


@bp.route("/<int(min=0, max=10000):rate_bp>")
class OneVatRate(MethodView):
    @require_role(*OPERATORS)
    @bp.arguments(VatRatePatchSchema)
    @bp.response(200, VatRateSchema)
    def patch(self, body, rate_bp):
        """Rename a rate, or retire it (refused while active products carry it) or bring it
        back."""
        with db().transaction() as session:
            rate = session.get(VatRate, rate_bp, with_for_update=True)
            if rate is None:
                raise NotFound("No such VAT rate.", code="vat_rate_not_found")
            carrying = _carrying(session, rate_bp)
            before = _view(rate, carrying)
            if body.get("active") is False and rate.active and carrying:
                raise Conflict("%(count)s active products carry this rate: move them to "
                               "another first.", code="vat_rate_in_use", count=carrying)
            rate.name = body.get("name", rate.name)
            rate.active = body.get("active", rate.active)
            after = _view(rate, carrying)
            if after != before:
                audit.change(session, g.user.id, "vat_rate", rate.rate_bp, before, after)
            return after

"""Promotions over HTTP: start one on some products, now or in a window; rename, stop, restart
or move its end. The tills get every change at their next pull.
"""

from __future__ import annotations

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate, validates_schema
from sqlalchemy import select

from kassa.central.access import audit
from kassa.central.access.auth import require_role
from kassa.central.catalog.products import PROMOTION_KINDS, create_promotion
from kassa.central.handlers import OPERATORS, STAFF, db
from kassa.central.models import Product, Promotion
from kassa.central.replication.feed import record_change
from kassa.central.replication.feed_documents import promotion_doc
from kassa.common.errors import NotFound

bp = Blueprint("promotions", __name__, url_prefix="/api/v1", description="Promotions")


class PromotionSchema(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.String(metadata={"description": "percent | amount | n_for_m"})
    skus = fields.List(fields.String())
    percent_bp = fields.Integer()
    amount_minor = fields.Integer()
    n = fields.Integer()
    m = fields.Integer()
    starts_at = fields.AwareDateTime(allow_none=True)
    ends_at = fields.AwareDateTime(allow_none=True)
    active = fields.Boolean()


class PromotionListSchema(ma.Schema):
    promotions = fields.List(fields.Nested(PromotionSchema))


class NewPromotionSchema(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.String(required=True, validate=validate.OneOf(PROMOTION_KINDS))
    skus = fields.List(fields.String(validate=validate.Length(min=1, max=64)), required=True,
                       validate=validate.Length(min=1, max=1000))
    percent_bp = fields.Integer(load_default=0, strict=True,
                                validate=validate.Range(min=0, max=10_000))
    amount_minor = fields.Integer(load_default=0, strict=True,
                                  validate=validate.Range(min=0, max=10**12))
    n = fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0, max=1000))
    m = fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0, max=1000))
    starts_at = fields.AwareDateTime(load_default=None, allow_none=True)
    ends_at = fields.AwareDateTime(load_default=None, allow_none=True)

    @validates_schema
    def window(self, data, **_kwargs):
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            raise ma.ValidationError("A promotion ends after it starts.", "ends_at")


class PromotionPatchSchema(ma.Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    active = fields.Boolean()
    ends_at = fields.AwareDateTime(allow_none=True)


def _promotion_view(session, p: Promotion) -> dict:
    skus = dict(session.execute(select(Product.id, Product.sku).where(
        Product.id.in_(p.product_ids))).all())
    return {"id": p.id, "name": p.name, "kind": p.kind, "percent_bp": p.percent_bp,
            "amount_minor": p.amount_minor, "n": p.n, "m": p.m, "starts_at": p.starts_at,
            "ends_at": p.ends_at, "active": p.active,
            "skus": [skus[i] for i in p.product_ids if i in skus]}


@bp.route("/promotions")
class Promotions(MethodView):
    @require_role(*STAFF)
    @bp.response(200, PromotionListSchema)
    def get(self):
        """Every promotion, running, scheduled or ended."""
        with db().read() as session:
            return {"promotions": [_promotion_view(session, p) for p in
                                   session.scalars(select(Promotion).order_by(Promotion.id))]}

    @require_role(*OPERATORS)
    @bp.arguments(NewPromotionSchema)
    @bp.response(201, PromotionSchema)
    def post(self, body):
        """Start a promotion on some products, now or in a window."""
        with db().transaction() as session:
            products = list(session.scalars(select(Product).where(
                Product.sku.in_(body["skus"]))))
            missing = sorted(set(body["skus"]) - {p.sku for p in products})
            if missing:
                raise NotFound("No product %(sku)s.", code="product_not_found",
                               sku=", ".join(missing[:5]))
            promo = create_promotion(
                session, body["name"], body["kind"], products, percent_bp=body["percent_bp"],
                amount_minor=body["amount_minor"], n=body["n"], m=body["m"],
                starts_at=body["starts_at"], ends_at=body["ends_at"])
            after = _promotion_view(session, promo)
            audit.change(session, g.user.id, "promotion", promo.id, None,
                         PromotionSchema().dump(after))
            return after


@bp.route("/promotions/<int(min=1, max=2147483647):promotion_id>")
class OnePromotion(MethodView):
    decorators = [require_role(*OPERATORS)]

    @bp.arguments(PromotionPatchSchema)
    @bp.response(200, PromotionSchema)
    def patch(self, body, promotion_id):
        """Rename, stop or restart a promotion, or move its end."""
        with db().transaction() as session:
            promo = session.get(Promotion, promotion_id, with_for_update=True)
            if promo is None:
                raise NotFound("No such promotion.", code="promotion_not_found")
            before = _promotion_view(session, promo)
            for name, value in body.items():
                setattr(promo, name, value)
            session.flush()
            after = _promotion_view(session, promo)
            if after != before:
                record_change(session, "promotion", promo.id, promotion_doc(promo))
                dump = PromotionSchema().dump
                audit.change(session, g.user.id, "promotion", promo.id, dump(before),
                             dump(after))
            return after

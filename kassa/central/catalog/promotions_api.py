"""Promotions over HTTP: start one on some products, now or in a window; rename, stop, restart
or move its end. The tills get every change at their next pull.
"""

from __future__ import annotations

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate, validates_schema

from kassa.central.access.auth import require_role
from kassa.central.catalog import promotions
from kassa.central.catalog.promotions import PROMOTION_KINDS
from kassa.central.handlers import OPERATORS, STAFF, db

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


@bp.route("/promotions")
class Promotions(MethodView):
    @require_role(*STAFF)
    @bp.response(200, PromotionListSchema)
    def get(self):
        """Every promotion, running, scheduled or ended."""
        with db().read() as session:
            return {"promotions": promotions.promotions(session)}

    @require_role(*OPERATORS)
    @bp.arguments(NewPromotionSchema)
    @bp.response(201, PromotionSchema)
    def post(self, body):
        """Start a promotion on some products, now or in a window."""
        with db().transaction() as session:
            return promotions.start_promotion(session, g.user, **body)


@bp.route("/promotions/<int(min=1, max=2147483647):promotion_id>")
class OnePromotion(MethodView):
    decorators = [require_role(*OPERATORS)]

    @bp.arguments(PromotionPatchSchema)
    @bp.response(200, PromotionSchema)
    def patch(self, body, promotion_id):
        """Rename, stop or restart a promotion, or move its end."""
        with db().transaction() as session:
            return promotions.change_promotion(session, g.user, promotion_id, body)

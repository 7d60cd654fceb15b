"""The chain's own settings over HTTP: regions, what each role may do alone at the till,
promotions and the loyalty rules (earning, tiers, offline caps).

Each change is in the audit log with its before and after, and whatever the tills use travels
in the change feed (regions reach them through their stores' documents).
"""

from __future__ import annotations

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate, validates_schema
from sqlalchemy import select

from kassa.central.access import audit, people
from kassa.central.access.auth import require_role
from kassa.central.catalog.products import PROMOTION_KINDS, create_promotion
from kassa.central.catalog.stores import create_region, rename_region
from kassa.central.crm import quotes
from kassa.central.handlers import OPERATORS, PEOPLE, STAFF, db
from kassa.central.membership import loyalty_accounts
from kassa.central.models import (
    ROLES,
    CompanyDetails,
    LoyaltySettings,
    Product,
    Promotion,
    Region,
    RoleLimit,
)
from kassa.central.replication.feed import record_change
from kassa.central.replication.feed_documents import promotion_doc, role_limit_doc
from kassa.common.errors import Conflict, NotFound
from kassa.loyalty import settings

bp = Blueprint("chain", __name__, url_prefix="/api/v1",
               description="Regions, role limits, promotions, loyalty rules")
CODE = validate.Regexp(r"^[A-Z0-9-]{2,32}\Z", error="2-32 capital letters, digits or dashes")


# Regions -------------------------------------------------------------------------------------

class RegionSchema(ma.Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()


class RegionListSchema(ma.Schema):
    regions = fields.List(fields.Nested(RegionSchema))


class NewRegionSchema(ma.Schema):
    code = fields.String(required=True, validate=CODE)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))


class RegionPatchSchema(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))


def _region_view(r: Region) -> dict:
    return {"id": r.id, "code": r.code, "name": r.name}


@bp.route("/regions")
class Regions(MethodView):
    @require_role(*STAFF)
    @bp.response(200, RegionListSchema)
    def get(self):
        """The regions the signed-in person may see (a regional manager: their own)."""
        stmt = select(Region).order_by(Region.code)
        if g.user.role == "regional_manager":
            stmt = stmt.where(Region.id == g.user.region_id)
        with db().read() as session:
            return {"regions": [_region_view(r) for r in session.scalars(stmt)]}

    @require_role(*OPERATORS)
    @bp.arguments(NewRegionSchema)
    @bp.response(201, RegionSchema)
    def post(self, body):
        """Open a region; its stores, prices and managers come next."""
        with db().transaction() as session:
            if session.scalar(select(Region.id).where(Region.code == body["code"])):
                raise Conflict("Region %(region)s exists already.",
                               code="duplicate_region", region=body["code"])
            after = _region_view(create_region(session, body["code"], body["name"]))
            audit.change(session, g.user.id, "region", body["code"], None, after)
            return after


@bp.route("/regions/<int(min=1, max=2147483647):region_id>")
class OneRegion(MethodView):
    decorators = [require_role(*OPERATORS)]

    @bp.arguments(RegionPatchSchema)
    @bp.response(200, RegionSchema)
    def patch(self, body, region_id):
        """Rename a region (its code, which tills know it by, stays)."""
        with db().transaction() as session:
            region = session.get(Region, region_id, with_for_update=True)
            if region is None:
                raise NotFound("No such region.", code="region_not_found")
            before = _region_view(region)
            if body["name"] != region.name:
                rename_region(session, region, body["name"])
            after = _region_view(region)
            if after != before:
                audit.change(session, g.user.id, "region", region.code, before, after)
            return after


# Role limits ---------------------------------------------------------------------------------

class RoleLimitSchema(ma.Schema):
    role = fields.String()
    max_discount_bp = fields.Integer(metadata={"description": "basis points: 1000 = 10 %"})
    max_refund_minor = fields.Integer()


class RoleLimitListSchema(ma.Schema):
    limits = fields.List(fields.Nested(RoleLimitSchema))


class RoleLimitInSchema(ma.Schema):
    max_discount_bp = fields.Integer(required=True, strict=True,
                                     validate=validate.Range(min=0, max=10_000))
    max_refund_minor = fields.Integer(required=True, strict=True,
                                      validate=validate.Range(min=0, max=10**12))


@bp.route("/role-limits")
class RoleLimits(MethodView):
    @require_role(*STAFF)
    @bp.response(200, RoleLimitListSchema)
    def get(self):
        """What each role may do alone at the till; above it, a manager or central decides."""
        with db().read() as session:
            return {"limits": [role_limit_doc(r) for r in
                               session.scalars(select(RoleLimit).order_by(RoleLimit.role))]}


@bp.route("/role-limits/<string:role>")
class OneRoleLimit(MethodView):
    decorators = [require_role(*OPERATORS)]

    @bp.arguments(RoleLimitInSchema)
    @bp.response(200, RoleLimitSchema)
    def put(self, body, role):
        """Set a role's discount and refund limits (tills get them at their next pull)."""
        if role not in ROLES:
            raise NotFound("No role %(role)s.", code="role_not_found", role=repr(role))
        with db().transaction() as session:
            old = session.get(RoleLimit, role)
            before = role_limit_doc(old) if old else None
            after = role_limit_doc(people.set_role_limit(session, role, body["max_discount_bp"],
                                                         body["max_refund_minor"]))
            if after != before:
                audit.change(session, g.user.id, "role_limit", role, before, after)
            return after


# The company (the seller on quotes and invoices) ----------------------------------------------

class CompanySchema(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    inn = fields.String(required=True, validate=validate.Regexp(
        r"^(\d{10}|\d{12})\Z", error="10 or 12 digits"))
    kpp = fields.String(load_default="", validate=validate.Regexp(
        r"^(\d{9})?\Z", error="9 digits, or empty"))
    address = fields.String(required=True, validate=validate.Length(min=1, max=300))
    bank = fields.String(required=True, validate=validate.Length(min=1, max=200))
    bic = fields.String(required=True, validate=validate.Regexp(r"^\d{9}\Z",
                                                                error="9 digits"))
    account = fields.String(required=True, validate=validate.Regexp(r"^\d{20}\Z",
                                                                    error="20 digits"))


@bp.route("/company")
class Company(MethodView):
    @require_role(*PEOPLE)
    @bp.response(200, CompanySchema)
    def get(self):
        """The seller's details printed on quotes and invoices."""
        with db().read() as session:
            row = session.get(CompanyDetails, 1)
            if row is None:
                raise NotFound("The company's details are not set yet.",
                               code="company_details_missing")
            return {f: getattr(row, f) for f in quotes.COMPANY_FIELDS}

    @require_role(*OPERATORS)
    @bp.arguments(CompanySchema)
    @bp.response(200, CompanySchema)
    def put(self, body):
        """Set the seller's details (audited); documents issued from now on carry them."""
        with db().transaction() as session:
            row = session.get(CompanyDetails, 1, with_for_update=True)
            before = None if row is None else {f: getattr(row, f) for f in quotes.COMPANY_FIELDS}
            if row is None:
                row = CompanyDetails(id=1, **body)
                session.add(row)
            else:
                for k, v in body.items():
                    setattr(row, k, v)
            session.flush()
            after = {f: getattr(row, f) for f in quotes.COMPANY_FIELDS}
            if after != before:
                audit.change(session, g.user.id, "company", 1, before, after)
            return after


# Promotions ----------------------------------------------------------------------------------

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


# Loyalty rules -------------------------------------------------------------------------------

class RulesSchema(ma.Schema):
    document = fields.Dict(metadata={"description": "kassa.loyalty.settings.RulesDoc"})


class RulesPatchSchema(ma.Schema):
    changes = fields.Dict(required=True, metadata={
        "description": "top-level fields to replace, e.g. offline_points_per_day"})


@bp.route("/loyalty-rules")
class LoyaltyRules(MethodView):
    @require_role(*STAFF)
    @bp.response(200, RulesSchema)
    def get(self):
        """The chain's loyalty rules: tiers, earning rates, redemption, offline caps."""
        with db().read() as session:
            row = session.get(LoyaltySettings, 1)
            return {"document": row.document if row else settings.DEFAULT}

    @require_role(*OPERATORS)
    @bp.arguments(RulesPatchSchema)
    @bp.response(200, RulesSchema)
    def patch(self, body):
        """Change some of the rules (``bad_rules`` if the result does not hold together);
        tills get the whole document at their next pull."""
        with db().transaction() as session:
            row = session.get(LoyaltySettings, 1, with_for_update=True)
            before = dict(row.document if row else settings.DEFAULT)
            after = {**before, **body["changes"]}
            if after != before:
                loyalty_accounts.set_rules(session, after)
                audit.change(session, g.user.id, "loyalty_rules", 1,
                             {k: before.get(k) for k in body["changes"]}, body["changes"])
            return {"document": after}

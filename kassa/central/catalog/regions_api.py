"""Regions over HTTP: list them (a regional manager, their own), open one, rename one. Each change
is in the audit log with its before and after; regions reach the tills inside their stores'
documents.
"""

from __future__ import annotations

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate
from sqlalchemy import select

from kassa.central.access import audit
from kassa.central.access.auth import require_role
from kassa.central.catalog.stores import create_region, rename_region
from kassa.central.handlers import OPERATORS, STAFF, db
from kassa.central.models import (
    Region,
)
from kassa.common.errors import Conflict, NotFound

bp = Blueprint("regions", __name__, url_prefix="/api/v1", description="Regions")
CODE = validate.Regexp(r"^[A-Z0-9-]{2,32}\Z", error="2-32 capital letters, digits or dashes")


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

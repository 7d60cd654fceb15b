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

from kassa.central.access.auth import require_role
from kassa.central.catalog import stores
from kassa.central.handlers import CODE, OPERATORS, STAFF, db

bp = Blueprint("regions", __name__, url_prefix="/api/v1", description="Regions")


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


@bp.route("/regions")
class Regions(MethodView):
    @require_role(*STAFF)
    @bp.response(200, RegionListSchema)
    def get(self):
        """The regions the signed-in person may see (a regional manager: their own)."""
        with db().read() as session:
            return {"regions": stores.regions_seen_by(session, g.user)}

    @require_role(*OPERATORS)
    @bp.arguments(NewRegionSchema)
    @bp.response(201, RegionSchema)
    def post(self, body):
        """Open a region; its stores, prices and managers come next."""
        with db().transaction() as session:
            return stores.open_region(session, g.user, body["code"], body["name"])


@bp.route("/regions/<int(min=1, max=2147483647):region_id>")
class OneRegion(MethodView):
    decorators = [require_role(*OPERATORS)]

    @bp.arguments(RegionPatchSchema)
    @bp.response(200, RegionSchema)
    def patch(self, body, region_id):
        """Rename a region (its code, which tills know it by, stays)."""
        with db().transaction() as session:
            return stores.change_region(session, g.user, region_id, body["name"])

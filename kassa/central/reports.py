"""Operational reports at central, each scoped to what the reader may see.

Central office and admins see the chain; a regional manager their region; a store manager
their store. The scope is a WHERE clause on every query, never a filter after the fact.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import marshmallow as ma
from flask import current_app, g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields
from sqlalchemy import and_, func, select

from kassa.central.auth import require_role
from kassa.central.models import Region, Sale, Store, User
from kassa.common.errors import Invalid

bp = Blueprint("reports", __name__, url_prefix="/api/v1/reports",
               description="Consolidated reports for managers")

READERS = ("admin", "central_office", "regional_manager", "store_manager")


class PeriodSchema(ma.Schema):
    date_from = fields.Date(data_key="from", load_default=None)
    date_to = fields.Date(data_key="to", load_default=None)


class StoreSalesSchema(ma.Schema):
    store_id = fields.Integer()
    store_code = fields.String()
    store_name = fields.String()
    region_code = fields.String()
    sales_count = fields.Integer()
    total_minor = fields.Integer()
    vat_minor = fields.Integer()


class SalesByStoreSchema(ma.Schema):
    date_from = fields.Date(data_key="from", allow_none=True)
    date_to = fields.Date(data_key="to", allow_none=True)
    stores = fields.List(fields.Nested(StoreSalesSchema))


def scope_stores(stmt, user: User):
    if user.role == "regional_manager":
        return stmt.where(Store.region_id == user.region_id)
    if user.role == "store_manager":
        return stmt.where(Store.id == user.store_id)
    return stmt


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time.min, tzinfo=timezone.utc)


def sales_by_store(session, user: User, date_from: date | None, date_to: date | None) -> list:
    if date_from and date_to and date_from > date_to:
        raise Invalid("'from' is after 'to'.", code="bad_period")
    joined = [Sale.store_id == Store.id]
    if date_from:
        joined.append(Sale.sold_at >= _day_start(date_from))
    if date_to:
        joined.append(Sale.sold_at < _day_start(date_to + timedelta(days=1)))
    stmt = (select(Store.id, Store.code, Store.name, Region.code,
                   func.count(Sale.id), func.coalesce(func.sum(Sale.total_minor), 0),
                   func.coalesce(func.sum(Sale.vat_minor), 0))
            .join(Region, Region.id == Store.region_id)
            .outerjoin(Sale, and_(*joined)))
    stmt = scope_stores(stmt, user).group_by(Store.id, Store.code, Store.name, Region.code)
    return [dict(zip(("store_id", "store_code", "store_name", "region_code", "sales_count",
                      "total_minor", "vat_minor"), row, strict=True))
            for row in session.execute(stmt.order_by(Store.code))]


@bp.route("/sales-by-store")
class SalesByStore(MethodView):
    decorators = [require_role(*READERS)]

    @bp.arguments(PeriodSchema, location="query")
    @bp.response(200, SalesByStoreSchema)
    def get(self, period):
        """Sales count and takings per store in the period (inclusive days, UTC)."""
        with current_app.extensions["kassa_db"].transaction() as session:
            stores = sales_by_store(session, g.user, period["date_from"], period["date_to"])
        return {"date_from": period["date_from"], "date_to": period["date_to"],
                "stores": stores}

"""Operational reports at central, each scoped to what the reader may see.

Central office and admins see the chain; a regional manager their region; a store manager
their store. The scope is a WHERE clause on every query, never a filter after the fact.
"""

from __future__ import annotations

from datetime import date

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields
from sqlalchemy import and_, func, select

from kassa.central.access.auth import require_role
from kassa.central.handlers import PEOPLE, STAFF, db
from kassa.central.membership import loyalty_accounts
from kassa.central.models import Node, NodeDayTotal, Region, Return, Sale, Store, User
from kassa.central.replication import quarantine
from kassa.central.reporting import local_days
from kassa.common.db import local_date
from kassa.common.errors import Invalid

bp = Blueprint("reports", __name__, url_prefix="/api/v1/reports",
               description="Consolidated reports for managers")



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
    timezones = fields.List(fields.String(), metadata={
        "description": "the stores' time zones; each store's days are its local days"})


def scope_stores(stmt, user: User):
    if user.role == "regional_manager":
        return stmt.where(Store.region_id == user.region_id)
    if user.role == "store_manager":
        return stmt.where(Store.id == user.store_id)
    return stmt


def zones_seen_by(session, user: User) -> list[str]:
    return local_days.zones(session, scope_stores(select(Store.id), user))


def sales_by_store(session, user: User, date_from: date | None, date_to: date | None) -> list:
    if date_from and date_to and date_from > date_to:
        raise Invalid("'from' is after 'to'.", code="bad_period")
    joined = [Sale.store_id == Store.id, *local_days.on_days(
        Sale.sold_at, Store.timezone, date_from, date_to, zones_seen_by(session, user))]
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
    decorators = [require_role(*PEOPLE)]

    @bp.arguments(PeriodSchema, location="query")
    @bp.response(200, SalesByStoreSchema)
    def get(self, period):
        """Sales count and takings per store in the period (inclusive days, each store's own
        local days)."""
        with db().read() as session:
            stores = sales_by_store(session, g.user, period["date_from"], period["date_to"])
            zones = zones_seen_by(session, g.user)
        return {"date_from": period["date_from"], "date_to": period["date_to"],
                "stores": stores, "timezones": zones}


class ReconciliationRowSchema(ma.Schema):
    node_id = fields.String()
    store_code = fields.String()
    day = fields.Date()
    node_sales_count = fields.Integer(allow_none=True)
    node_sales_minor = fields.Integer(allow_none=True)
    central_sales_count = fields.Integer()
    central_sales_minor = fields.Integer()
    node_returns_count = fields.Integer(allow_none=True)
    central_returns_count = fields.Integer()
    late_sales = fields.Integer()
    reported_at = fields.AwareDateTime(allow_none=True)
    status = fields.String(metadata={"description": "match | mismatch | not_reported"})


class ReconciliationSchema(ma.Schema):
    date_from = fields.Date(data_key="from")
    date_to = fields.Date(data_key="to")
    rows = fields.List(fields.Nested(ReconciliationRowSchema))
    quarantined = fields.Dict(keys=fields.String(), values=fields.Integer())


def reconciliation(session, user: User, date_from: date, date_to: date) -> list[dict]:
    """Per node and day: the sales the node counted (its last report) next to the sales central
    holds from it, and how many of central's arrived late (after their shift or day closed).
    Days are the store's local days, as the till counts them."""
    nodes = dict(session.execute(scope_stores(
        select(Node.id, Store.code).join(Store, Store.id == Node.store_id), user)).all())
    zones = zones_seen_by(session, user)
    day = local_date(Sale.sold_at, Store.timezone)
    central = {(n, d): (c, m, late) for n, d, c, m, late in session.execute(
        select(Sale.node_id, day, func.count(), func.coalesce(func.sum(Sale.total_minor), 0),
               func.count(Sale.late_reason)).join(Store, Store.id == Sale.store_id)
        .where(*local_days.on_days(Sale.sold_at, Store.timezone, date_from, date_to, zones),
               Sale.node_id.in_(nodes))
        .group_by(Sale.node_id, day))}
    rday = local_date(Return.returned_at, Store.timezone)
    returns = {(n, d): c for n, d, c in session.execute(
        select(Return.node_id, rday, func.count()).join(Store, Store.id == Return.store_id)
        .where(*local_days.on_days(Return.returned_at, Store.timezone, date_from, date_to,
                                   zones),
               Return.node_id.in_(nodes)).group_by(Return.node_id, rday))}
    reported = {(r.node_id, r.day): r for r in session.scalars(
        select(NodeDayTotal).where(NodeDayTotal.day >= date_from, NodeDayTotal.day <= date_to,
                                   NodeDayTotal.node_id.in_(nodes)))}
    rows = []
    for node_id, d in sorted(set(central) | set(returns) | set(reported)):
        count, minor, late = central.get((node_id, d), (0, 0, 0))
        mine = reported.get((node_id, d))
        status = "not_reported" if mine is None else (
            "match" if (mine.sales_count, mine.sales_minor, mine.returns_count)
            == (count, minor, returns.get((node_id, d), 0)) else "mismatch")
        rows.append({
            "node_id": node_id, "store_code": nodes[node_id], "day": d,
            "node_sales_count": mine.sales_count if mine else None,
            "node_sales_minor": mine.sales_minor if mine else None,
            "central_sales_count": count, "central_sales_minor": minor,
            "node_returns_count": mine.returns_count if mine else None,
            "central_returns_count": returns.get((node_id, d), 0), "late_sales": late,
            "reported_at": mine.reported_at if mine else None, "status": status})
    return rows


class RequiredPeriodSchema(ma.Schema):
    date_from = fields.Date(data_key="from", required=True)
    date_to = fields.Date(data_key="to", required=True)

    @ma.validates_schema
    def _ordered(self, data, **_kw):
        if data["date_to"] < data["date_from"]:
            raise ma.ValidationError("'from' is after 'to'.", "from")
        if (data["date_to"] - data["date_from"]).days > 92:
            raise ma.ValidationError("At most 93 days at a time.", "to")


@bp.route("/reconciliation")
class Reconciliation(MethodView):
    decorators = [require_role(*PEOPLE)]

    @bp.arguments(RequiredPeriodSchema, location="query")
    @bp.response(200, ReconciliationSchema)
    def get(self, period):
        """Sales counted at each node vs at central, per node and store-local day, with late
        facts."""
        with db().read() as session:
            rows = reconciliation(session, g.user, period["date_from"], period["date_to"])
            held = quarantine.held_counts(session)
        return {"date_from": period["date_from"], "date_to": period["date_to"], "rows": rows,
                "quarantined": {r["node_id"]: held[r["node_id"]] for r in rows
                                if r["node_id"] in held}}


class OverdraftBurnSchema(ma.Schema):
    cause = fields.String()
    points = fields.Integer()
    at = fields.AwareDateTime()


class OverdraftSchema(ma.Schema):
    account_id = fields.UUID()
    customer = fields.String()
    balance = fields.Integer()
    burns = fields.List(fields.Nested(OverdraftBurnSchema))


class OverdraftsSchema(ma.Schema):
    accounts = fields.List(fields.Nested(OverdraftSchema))


@bp.route("/loyalty-overdrafts")
class LoyaltyOverdrafts(MethodView):
    decorators = [require_role(*STAFF)]

    @bp.response(200, OverdraftsSchema)
    def get(self):
        """Loyalty accounts below zero and the burns that took them there (fraud report); a
        regional manager sees the customers of their region."""
        region = g.user.region_id if g.user.role == "regional_manager" else None
        with db().read() as session:
            return {"accounts": loyalty_accounts.overdrawn(session, region)}

"""The managers' morning reports: sales by region, store, day, hour or cashier; loyalty's
weight and liability; authorizations; web leads and their conversion; follow-up tasks;
personal offers' response and uplift against the hold-out group.

Every report is scoped to the reader (central office: the chain; a regional manager: their
region's stores and customers; a store manager: their store's) by a WHERE clause in its
query, and comes as JSON or, with ``format=csv``, as CSV with the same rows. Today's figures
are read live from central's database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import cast

import duckdb
import marshmallow as ma
from flask import current_app, g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate
from sqlalchemy import Engine, and_, case, func, select
from sqlalchemy.orm import Session

from kassa.central.access.auth import require_role
from kassa.central.handlers import PEOPLE, db
from kassa.central.membership import loyalty_accounts
from kassa.central.models import (
    Authorization,
    Customer,
    Interaction,
    LoyaltyAccount,
    LoyaltyEntry,
    Offer,
    OfferExposure,
    Product,
    Region,
    Return,
    Sale,
    SaleLine,
    Store,
    Task,
    User,
)
from kassa.central.reporting import local_days
from kassa.central.reporting.history_import import EARLIEST, LATEST_YEAR
from kassa.central.reporting.warehouse import schema as wh_schema
from kassa.central.reporting.warehouse import warehouse_reports as wh_reports
from kassa.central.reporting.warehouse.warehouse_reports import sales_table
from kassa.common.db import local_date, local_hour
from kassa.common.errors import Invalid, KassaError
from kassa.common.web import CSV_TEXT, csv_response

bp = Blueprint("manager_reports", __name__, url_prefix="/api/v1/reports",
               description="Managers' reports: sales, loyalty, authorizations, leads, tasks")
GROUPS = ("region", "store", "day", "hour", "cashier")
MAX_DAYS = 366
STALE_AFTER = timedelta(hours=1)  # the warehouse is refreshed every 15 minutes


class ReportArgs(ma.Schema):
    date_from = fields.Date(data_key="from", load_default=None)
    date_to = fields.Date(data_key="to", load_default=None)
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")))


class SalesArgs(ReportArgs):
    group = fields.String(load_default="store", validate=validate.OneOf(GROUPS))
    # auto: history (days before today) from the warehouse when it is fresh, else live.
    source = fields.String(load_default="auto",
                           validate=validate.OneOf(("auto", "live", "warehouse")))


class Rows(ma.Schema):
    date_from = fields.Date(data_key="from")
    date_to = fields.Date(data_key="to")
    rows = fields.List(fields.Dict())
    totals = fields.Dict()
    source = fields.String(metadata={"description": "live (central) or warehouse"})
    timezones = fields.List(fields.String(), metadata={
        "description": "the reader's stores' time zones: a sale is on its store's local day"})


@dataclass(frozen=True)
class Days:
    """A report's period: store-local days from ``first`` to ``last`` over the reader's
    stores' ``zones``."""

    first: date
    last: date
    zones: list[str]

    def bounds(self) -> tuple[datetime, datetime]:
        """Instants holding every one of the days, in every one of the zones."""
        return local_days.bounds(self.first, self.last, self.zones)

    def home_bounds(self) -> tuple[datetime, datetime]:
        """The days in the reader's one zone (UTC over several): for facts with no store."""
        return local_days.bounds(self.first, self.last,
                                 [local_days.home_zone(self.zones)])


def period(args, zones: list[str]) -> Days:
    """The report's days (default: the stores' today; over several zones the newest of
    their todays, so that each store's today is in)."""
    today = local_days.latest_today(zones, datetime.now(timezone.utc))
    first, last = args["date_from"] or args["date_to"] or today, args["date_to"] or today
    if first > last:
        raise Invalid("'from' is after 'to'.", code="bad_period")
    if (last - first).days >= MAX_DAYS:
        raise Invalid("At most %(days)s days at a time.", code="bad_period", days=MAX_DAYS)
    if not (EARLIEST.year <= first.year and last.year <= LATEST_YEAR):
        raise Invalid("Dates from %(first)s to %(last)s.", code="bad_period",
                      first=EARLIEST.year, last=LATEST_YEAR)
    return Days(first, last, zones)


def stores_today(session: Session, user: User) -> date:
    """Today in the reader's stores (the reports' "today"), not on the browser's clock: a
    Moscow store's day begins at 21:00 UTC."""
    return local_days.latest_today(local_days.zones(session, _stores_of(user)),
                                   datetime.now(timezone.utc))


def _stores_of(user: User):
    """The store ids the reader may see, as a subquery (None: all)."""
    if user.role == "regional_manager":
        return select(Store.id).where(Store.region_id == user.region_id)
    if user.role == "store_manager":
        return select(Store.id).where(Store.id == user.store_id)
    return None


def _customers_of(user: User):
    stores = _stores_of(user)
    return None if stores is None else select(Customer.id).where(
        Customer.home_store_id.in_(stores))


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _key_columns(group: str, table):
    """The grouping column for sales (``Sale``) or returns (``Return``)."""
    if group == "region":
        return Region.code
    if group == "store":
        return Store.code
    if group == "day":
        return local_date(table.sold_at if table is Sale else table.returned_at, Store.timezone)
    if group == "hour":
        return local_hour(table.sold_at if table is Sale else table.returned_at, Store.timezone)
    return func.coalesce(User.username, "(none)")


def _joined(stmt, group: str, table):
    stmt = stmt.join(Store, Store.id == table.store_id)
    if group == "region":
        stmt = stmt.join(Region, Region.id == Store.region_id)
    if group == "cashier":
        stmt = stmt.outerjoin(User, User.id == table.cashier_id)
    return stmt


def sales(session: Session, user: User, group: str, days: Days) -> dict:
    """Each sale and return on its store's local day and hour."""
    items = (select(SaleLine.sale_id, func.sum(SaleLine.quantity_milli).label("milli"))
             .group_by(SaleLine.sale_id).subquery())
    key = _key_columns(group, Sale).label("key")
    loyal = case((Sale.account_id.is_not(None), Sale.total_minor), else_=0)
    stmt = _joined(select(key, func.count(Sale.id), func.sum(Sale.total_minor),
                          func.sum(items.c.milli), func.sum(loyal))
                   .outerjoin(items, items.c.sale_id == Sale.id), group, Sale)
    where = [Sale.status == "completed", *local_days.on_days(
        Sale.sold_at, Store.timezone, days.first, days.last, days.zones)]
    returns_key = _key_columns(group, Return).label("key")
    returns = _joined(select(returns_key, func.count(Return.id), func.sum(Return.total_minor)),
                      group, Return).where(*local_days.on_days(
                          Return.returned_at, Store.timezone, days.first, days.last,
                          days.zones))
    stores = _stores_of(user)
    if stores is not None:
        where.append(Sale.store_id.in_(stores))
        returns = returns.where(Return.store_id.in_(stores))
    back = {_plain(k): (n, int(total or 0)) for k, n, total in
            session.execute(returns.group_by(returns_key))}
    sold = [(_plain(k), *figures) for k, *figures in session.execute(
        stmt.where(*where).group_by(key).order_by(key))]
    return sales_table(sold, back)


def sales_report(session: Session, user: User, group: str, days: Days,
                 source: str = "auto") -> dict:
    """The sales report from the warehouse (history it holds: days over in every store) or
    live from central."""
    path = current_app.config["KASSA"].warehouse_path
    now = datetime.now(timezone.utc)
    end = days.bounds()[1]
    if source == "warehouse" or (source == "auto" and path is not None and end <= now):
        stores = _stores_of(user)
        scope = None if stores is None else list(session.scalars(stores))
        try:
            if path is None:
                raise FileNotFoundError("this central has no warehouse (KASSA_WAREHOUSE=off)")
            with wh_schema.connect(path, read_only=True) as con:
                # Central's sessions are bound to its Engine (kassa.common.db.Database).
                bind = cast(Engine, session.get_bind())
                fresh = wh_reports.freshness(
                    con, bind.url.render_as_string(hide_password=True))
                # History only from a warehouse of this database that is being kept up: a late
                # sale from an offline till lands within a refresh or two.
                if source == "warehouse" or (fresh is not None and fresh >= end
                                             and now - fresh <= STALE_AFTER):
                    return {**wh_reports.sales(con, group, days.first, days.last, scope),
                            "source": "warehouse"}
        except (duckdb.Error, FileNotFoundError) as err:
            if source == "warehouse":
                raise KassaError("The warehouse cannot answer now; ask for source=live.",
                                 code="warehouse_unavailable", status=409) from err
    return {**sales(session, user, group, days), "source": "live"}


def _plain(value):
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (float, Decimal)):  # EXTRACT gives a float, or a numeric
        return int(value) if value == int(value) else float(value)
    return value if value is None or isinstance(value, (int, str)) else str(value)


def points(session: Session, user: User, start: datetime, end: datetime) -> dict:
    """Points issued, burned and expired in the period, and outstanding now, with what the
    outstanding points are worth (the loyalty liability)."""
    customers = _customers_of(user)
    entries = select(LoyaltyEntry.kind, func.sum(LoyaltyEntry.points)).where(
        LoyaltyEntry.at >= start, LoyaltyEntry.at < end).group_by(LoyaltyEntry.kind)
    balance = select(func.coalesce(func.sum(LoyaltyAccount.balance), 0))
    if customers is not None:
        accounts = select(LoyaltyAccount.id).where(LoyaltyAccount.customer_id.in_(customers))
        entries = entries.where(LoyaltyEntry.account_id.in_(accounts))
        balance = balance.where(LoyaltyAccount.customer_id.in_(customers))
    by_kind = {kind: int(total or 0) for kind, total in session.execute(entries)}
    outstanding = int(session.scalar(balance) or 0)
    minor_per_point = loyalty_accounts.rules(session).redemption.minor_per_point
    rows = [{"key": "issued", "points": by_kind.get("earn", 0) + max(
                by_kind.get("adjustment", 0), 0)},
            {"key": "burned", "points": -by_kind.get("burn", 0)},
            {"key": "expired", "points": -by_kind.get("expiry", 0)},
            {"key": "taken back on returns", "points": -by_kind.get("reversal", 0)},
            {"key": "given back on returns", "points": by_kind.get("refund", 0)}]
    return {"rows": rows, "totals": {"outstanding_points": outstanding,
                                     "liability_minor": outstanding * minor_per_point}}


def authorizations(session: Session, user: User, start: datetime, end: datetime) -> dict:
    stmt = (select(Authorization.kind, Authorization.status, func.count())
            .where(Authorization.requested_at >= start, Authorization.requested_at < end)
            .group_by(Authorization.kind, Authorization.status))
    stores = _stores_of(user)
    if stores is not None:
        stmt = stmt.where(Authorization.store_id.in_(stores))
    table: dict[str, dict] = {}
    for kind, status, n in session.execute(stmt):
        row = table.setdefault(kind, {"key": kind, "requested": 0, "approved": 0,
                                      "declined": 0, "expired": 0, "pending": 0})
        row["requested"] += n
        row[status] = row.get(status, 0) + n
    rows = [table[k] for k in sorted(table)]
    return {"rows": rows, "totals": {s: sum(r[s] for r in rows) for s in (
        "requested", "approved", "declined", "expired", "pending")}}


def leads(session: Session, user: User, start: datetime, end: datetime) -> dict:
    """Leads that came in the period by source (UTM source, else the channel), and how many of
    them have bought since (a completed sale after they came)."""
    stmt = select(Customer.id, Customer.created_at, Customer.lead_source).where(
        Customer.lead_source.is_not(None), Customer.created_at >= start,
        Customer.created_at < end, Customer.merged_into_id.is_(None))
    customers = _customers_of(user)
    if customers is not None:
        stmt = stmt.where(Customer.id.in_(customers))
    found = session.execute(stmt).all()
    first_buy = dict(session.execute(
        select(Sale.customer_id, func.min(Sale.sold_at)).where(
            Sale.customer_id.in_([c.id for c in found]), Sale.status == "completed")
        .group_by(Sale.customer_id)).all()) if found else {}
    table: dict[str, dict] = {}
    for cid, created, source in found:
        key = source.get("utm_source") or source.get("channel") or "unknown"
        row = table.setdefault(key, {"key": key, "leads": 0, "converted": 0})
        row["leads"] += 1
        bought = first_buy.get(cid)
        if bought is not None and _aware(bought) >= _aware(created):
            row["converted"] += 1
    rows = [{**r, "conversion": _ratio(r["converted"], r["leads"])}
            for r in sorted(table.values(), key=lambda r: -r["leads"])]
    total, converted = sum(r["leads"] for r in rows), sum(r["converted"] for r in rows)
    contacts = select(func.count()).select_from(Interaction).where(
        Interaction.channel == "web_form", Interaction.at >= start, Interaction.at < end)
    if customers is not None:
        contacts = contacts.where(Interaction.customer_id.in_(customers))
    return {"rows": rows, "totals": {"leads": total, "converted": converted,
                                     "conversion": _ratio(converted, total),
                                     "web_forms": session.scalar(contacts)}}


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def tasks(session: Session, user: User, start: datetime, end: datetime) -> dict:
    """Per assignee: tasks due in the period done on time, done late, still open and late,
    still open in time."""
    now = datetime.now(timezone.utc)
    stmt = (select(func.coalesce(User.username, "(nobody)"), Task.status, Task.due_at,
                   Task.done_at)
            .outerjoin(User, User.id == Task.assignee_id)
            .where(Task.due_at >= start, Task.due_at < end, Task.status != "cancelled"))
    stores = _stores_of(user)
    if stores is not None:
        stmt = stmt.where(Task.store_id.in_(stores))
    table: dict[str, dict] = {}
    for who, status, due, done in session.execute(stmt):
        row = table.setdefault(who, {"key": who, "on_time": 0, "late": 0, "overdue": 0,
                                     "open": 0})
        due = _aware(due)
        if status == "done":
            assert done is not None  # crm.tasks sets done_at with the status
            row["on_time" if _aware(done) <= due else "late"] += 1
        else:
            row["overdue" if due < now else "open"] += 1
    rows = [table[k] for k in sorted(table)]
    return {"rows": rows, "totals": {k: sum(r[k] for r in rows) for k in (
        "on_time", "late", "overdue", "open")}}


def offers(session: Session, user: User, start: datetime, end: datetime) -> dict:
    """Per offer, the exposures the tills recorded in the period: shown to the target group
    and accepted (the line taken under the offer), the response rate; the hold-out group's
    exposures (offered nothing) and how many bought the product anyway. Revenue per visit is
    the average total of the completed sales the exposures ended in (a voided cart is shown but
    is no visit with revenue), in the target group and in the hold-out group; the uplift is
    (target - hold-out) / hold-out, None without hold-out sales to compare with."""
    E = OfferExposure  # noqa: N806 - the table, as in SQL
    sold = and_(Sale.id == E.sale_id, Sale.status == "completed")
    where = [E.at >= start, E.at < end]
    stores = _stores_of(user)
    if stores is not None:
        where.append(E.store_id.in_(stores))
    by_offer: dict[int, dict] = {}
    for offer_id, held_out, n, taken, visits, revenue in session.execute(
            select(E.offer_id, E.held_out, func.count(),
                   func.sum(case((E.accepted.is_(True), 1), else_=0)), func.count(Sale.id),
                   func.sum(Sale.total_minor))
            .outerjoin(Sale, sold).where(*where).group_by(E.offer_id, E.held_out)):
        group = by_offer.setdefault(offer_id, {})
        group["holdout" if held_out else "target"] = (n, int(taken or 0), visits,
                                                      int(revenue or 0))
    names = dict(session.execute(select(Offer.id, Product.name).join(
        Product, Product.id == Offer.product_id).where(Offer.id.in_(by_offer))).all()
                 ) if by_offer else {}
    rows = [_offer_row(offer_id, names.get(offer_id, "(unknown offer)"), by_offer[offer_id])
            for offer_id in sorted(by_offer)]
    # The totals count each sale once, however many offers its cart showed.
    visits = select(E.held_out, Sale.id, Sale.total_minor).join(Sale, sold).where(
        *where).distinct().subquery()
    once = {"holdout" if held_out else "target": (n, int(revenue or 0))
            for held_out, n, revenue in session.execute(
                select(visits.c.held_out, func.count(), func.sum(visits.c.total_minor))
                .group_by(visits.c.held_out))}
    totals = _offer_row(None, None, {
        name: (sum(g[name][0] for g in by_offer.values() if name in g),
               sum(g[name][1] for g in by_offer.values() if name in g), *once.get(name, (0, 0)))
        for name in ("target", "holdout")})
    return {"rows": rows, "totals": {k: v for k, v in totals.items()
                                     if k not in ("key", "offer_id", "product")}}


def _offer_row(offer_id: int | None, product: str | None, groups: dict) -> dict:
    """``groups``: ``{"target" | "holdout": (exposures, accepted, sales, revenue)}``."""
    shown, accepted, t_sales, t_revenue = groups.get("target", (0, 0, 0, 0))
    held, bought, h_sales, h_revenue = groups.get("holdout", (0, 0, 0, 0))
    target = t_revenue / t_sales if t_sales else None
    holdout = h_revenue / h_sales if h_sales else None
    return {"key": f"{offer_id}: {product}", "offer_id": offer_id, "product": product,
            "shown": shown, "accepted": accepted, "response_rate": _ratio(accepted, shown),
            "held_out": held, "held_out_bought": bought,
            "target_sales": t_sales, "target_revenue_per_visit_minor":
                None if target is None else round(target),
            "holdout_sales": h_sales, "holdout_revenue_per_visit_minor":
                None if holdout is None else round(holdout),
            "uplift": round((target - holdout) / holdout, 4)
            if target is not None and holdout else None}


def _answer(name: str, args, report: dict, days: Days):
    if args["format"] == "csv":
        return csv_response(f"{name}-{days.first}-{days.last}", report["rows"])
    return {"date_from": days.first, "date_to": days.last, "timezones": days.zones, **report}


def _route(name: str, build, args_schema=ReportArgs, doc: str = ""):
    class Report(MethodView):
        decorators = [require_role(*PEOPLE)]

        @bp.arguments(args_schema, location="query")
        @bp.response(200, Rows)
        @bp.alt_response(200, schema=CSV_TEXT, content_type="text/csv", success=True,
                         description="with format=csv: the same rows as CSV")
        def get(self, args):
            with db().read() as session:
                days = period(args, local_days.zones(session, _stores_of(g.user)))
                if "group" in args:
                    report = build(session, g.user, args["group"], days, args["source"])
                else:
                    start, end = days.home_bounds()
                    report = build(session, g.user, start=start, end=end)
            return _answer(name, args, report, days)

    Report.get.__doc__ = doc
    Report.__name__ = f"{name.title().replace('-', '')}Report"
    bp.route(f"/{name}")(Report)


_route("sales", sales_report, SalesArgs, "Receipts, revenue, average receipt, items per receipt, "
       "loyalty share and returns by region, store, day, hour or cashier (``format=csv``).")
_route("points", points, doc="Points issued, burned, expired; outstanding and its worth.")
_route("authorizations", authorizations, doc="Authorizations requested, approved, declined "
       "and expired, by kind.")
_route("leads", leads, doc="Web and other leads by source and their conversion to a first "
       "purchase.")
_route("tasks", tasks, doc="Follow-up tasks per assignee: done on time, late, overdue.")
_route("offers", offers, doc="Personal offers: shown, accepted and the response rate; the "
       "hold-out group's exposures and purchases anyway; revenue per visit in each group and "
       "the uplift.")

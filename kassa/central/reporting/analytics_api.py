"""The analytic side over HTTP: the RFM segment map and the offers' settings (configuration,
audited), segment sizes and movements over time, and the demand view (a store's weekly sales
of a product, its trend and a forecast). Segments and demand are read from the warehouse; a
regional manager sees their region's customers and stores only.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import duckdb
import marshmallow as ma
import numpy as np
from flask import current_app, g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate, validates_schema
from sqlalchemy import select

from kassa.central.access.auth import require_role
from kassa.central.handlers import OPERATORS, PEOPLE, db
from kassa.central.membership import personal_offers
from kassa.central.models import Product, Store
from kassa.central.reporting.history_import import EARLIEST, LATEST_YEAR
from kassa.central.reporting.warehouse import analytics, demand, lifetime, rfm, schema
from kassa.common.errors import Invalid, KassaError, NotFound
from kassa.common.web import CSV_TEXT, csv_response

bp = Blueprint("analytics", __name__, url_prefix="/api/v1/analytics",
               description="Segments, lifetime-value runs, the segment map, offers' settings, "
                           "demand")
SCORE = validate.Range(min=1, max=5)


class _Warehouse:
    """The warehouse opened read-only for one request, or a clear 409 when it cannot be."""

    def __enter__(self):
        path = current_app.config["KASSA"].warehouse_path
        if path is None or not path.exists():
            raise KassaError("There is no warehouse yet: it is loaded by `kassa central "
                             "warehouse refresh` or the scheduled job.",
                             code="warehouse_unavailable", status=409)
        self._cm = schema.connect(path, read_only=True)
        try:
            return self._cm.__enter__()
        except duckdb.Error as err:
            raise KassaError("The warehouse is busy being rebuilt; try again shortly.",
                             code="warehouse_unavailable", status=409) from err

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


# The segment map ------------------------------------------------------------------------------

class SegmentRuleSchema(ma.Schema):
    priority = fields.Integer(required=True, validate=validate.Range(min=1, max=10_000))
    segment = fields.String(required=True, validate=validate.Length(min=1, max=40))
    r_min = fields.Integer(required=True, validate=SCORE)
    r_max = fields.Integer(required=True, validate=SCORE)
    f_min = fields.Integer(required=True, validate=SCORE)
    f_max = fields.Integer(required=True, validate=SCORE)


class SegmentMapSchema(ma.Schema):
    rules = fields.List(fields.Nested(SegmentRuleSchema), required=True,
                        validate=validate.Length(min=1, max=100))

    @validates_schema
    def _holds_together(self, data, **_kw):
        rules = [(r["priority"], r["segment"], r["r_min"], r["r_max"], r["f_min"], r["f_max"])
                 for r in data["rules"]]
        if len({r[0] for r in rules}) != len(rules):
            raise ma.ValidationError("Each rule needs its own priority.", "rules")
        try:
            gaps = rfm.check_map(rules)
        except ValueError as err:
            raise ma.ValidationError(str(err), "rules") from err
        if gaps:
            raise ma.ValidationError(f"No segment for the (recency, frequency) scores {gaps}: "
                                     "every customer must land in one.", "rules")


@bp.route("/segment-map")
class SegmentMap(MethodView):
    @require_role(*PEOPLE)
    @bp.response(200, SegmentMapSchema)
    def get(self):
        """Which RFM scores make which segment (first match by priority)."""
        with db().read() as session:
            return {"rules": analytics.segment_map(session)}

    @require_role(*OPERATORS)
    @bp.arguments(SegmentMapSchema)
    @bp.response(200, SegmentMapSchema)
    def put(self, body):
        """Replace the map (``422`` unless every score cell lands in a segment); the next
        analysis run segments by it."""
        with db().transaction() as session:
            return {"rules": analytics.replace_segment_map(session, g.user, body["rules"])}


# Offers' settings -----------------------------------------------------------------------------

BP = validate.Range(min=0, max=10_000)


class OfferSettingsSchema(ma.Schema):
    discount_bp = fields.Integer(validate=validate.Range(min=1, max=5000))
    holdout_bp = fields.Integer(validate=BP)
    min_support_bp = fields.Integer(validate=validate.Range(min=1, max=10_000))
    min_confidence_bp = fields.Integer(validate=BP)
    min_lift_bp = fields.Integer(validate=validate.Range(min=0, max=1_000_000))
    max_offers = fields.Integer(validate=validate.Range(min=0, max=10_000))


@bp.route("/offer-settings")
class OfferSettingsView(MethodView):
    @require_role(*PEOPLE)
    @bp.response(200, OfferSettingsSchema)
    def get(self):
        """The offers' discount, the hold-out share and the rules' thresholds."""
        with db().read() as session:
            return personal_offers.settings_view(session)

    @require_role(*OPERATORS)
    @bp.arguments(OfferSettingsSchema)
    @bp.response(200, OfferSettingsSchema)
    def patch(self, body):
        """Change some settings; a new hold-out share re-sends every consenting customer's
        offer profile, a new discount applies from the next analysis run."""
        with db().transaction() as session:
            return personal_offers.change_settings(session, g.user, body)


# Segments over time ---------------------------------------------------------------------------

FORMAT = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")),
                       metadata={"description": "csv: the rows as a spreadsheet"})


class SegmentsArgs(ma.Schema):
    date_from = fields.Date(data_key="from", load_default=None)
    date_to = fields.Date(data_key="to", load_default=None)
    format = FORMAT


class SegmentsSchema(ma.Schema):
    sizes = fields.List(fields.Dict())
    movements = fields.List(fields.Dict())
    runs = fields.List(fields.Date())


def _region_scope() -> int | None:
    return g.user.region_id if g.user.role == "regional_manager" else None


@bp.route("/segments")
class Segments(MethodView):
    @require_role(*OPERATORS, "regional_manager")
    @bp.arguments(SegmentsArgs, location="query")
    @bp.response(200, SegmentsSchema)
    @bp.alt_response(200, schema=CSV_TEXT, content_type="text/csv", success=True,
                     description="with format=csv: the rows as CSV")
    def get(self, args):
        """Segment sizes of every analysis run in the period (default: the last 90 days) and
        how customers moved between the last two runs."""
        last = args["date_to"] or datetime.now(timezone.utc).date()
        for day in (last, args["date_from"]):
            if day is not None and not EARLIEST.year <= day.year <= LATEST_YEAR:
                raise Invalid("Dates from %(first)s to %(last)s.", code="bad_period",
                              first=EARLIEST.year, last=LATEST_YEAR)
        first = args["date_from"] or max(last - timedelta(days=90), EARLIEST.date())
        if first > last:
            raise Invalid("'from' is after 'to'.", code="bad_period")
        with _Warehouse() as con:
            region = _region_scope()
            if region is not None:  # their region's customers only
                con.execute("CREATE OR REPLACE TEMP VIEW scoped AS SELECT s.* FROM rfm_scores s "
                            "JOIN dim_customer d ON d.customer_id = s.customer_id "
                            f"AND d.is_current AND d.home_region_id = {int(region)}")
            source = "scoped" if region is not None else "rfm_scores"
            runs = [d for (d,) in con.execute(
                f"SELECT DISTINCT as_of FROM {source} WHERE as_of BETWEEN ? AND ? ORDER BY 1",
                [first, last]).fetchall()]
            sizes = rfm.sizes(con, first, last, source)
            moves = rfm.movements(con, runs[-2], runs[-1], source) if len(runs) > 1 else []
        if args["format"] == "csv":  # the sizes, each run's segments with the moves' totals
            return csv_response(f"segments-{first}-{last}", sizes)
        return {"sizes": sizes, "movements": moves, "runs": runs}


# Lifetime value --------------------------------------------------------------------------------

class LifetimeRunSchema(ma.Schema):
    as_of = fields.Date()
    ran_at = fields.DateTime()
    horizon_days = fields.Integer(metadata={"description": "expected purchases over these days"})
    customers = fields.Integer(metadata={"description": "buying customers the fit rests on"})
    repeat_customers = fields.Integer(metadata={"description": "those who bought again: the "
                                                               "spend model's"})
    bgnbd_r = fields.Float(allow_none=True)
    bgnbd_alpha = fields.Float(allow_none=True, metadata={"description": "in weeks"})
    bgnbd_a = fields.Float(allow_none=True)
    bgnbd_b = fields.Float(allow_none=True)
    bgnbd_log_likelihood = fields.Float(allow_none=True)
    gamma_gamma_p = fields.Float(allow_none=True)
    gamma_gamma_q = fields.Float(allow_none=True)
    gamma_gamma_v = fields.Float(allow_none=True, metadata={"description": "in minor units"})
    gamma_gamma_log_likelihood = fields.Float(allow_none=True)
    skipped = fields.String(allow_none=True, metadata={"description": "why nothing was fitted"})


class LifetimeRunsSchema(ma.Schema):
    runs = fields.List(fields.Nested(LifetimeRunSchema))


@bp.route("/lifetime-runs")
class LifetimeRuns(MethodView):
    @require_role(*OPERATORS, "regional_manager")
    @bp.response(200, LifetimeRunsSchema)
    def get(self):
        """The lifetime-value runs, newest first: as of when, the horizon of the expected
        purchases, the customers fitted on, BG/NBD's parameters (time in weeks) and
        Gamma-Gamma's (spend in minor units) with their log-likelihoods, or why a run fitted
        nothing. The same models for the whole chain: a regional manager sees them too."""
        with _Warehouse() as con:
            try:
                return {"runs": lifetime.runs(con)}
            except duckdb.CatalogException:  # a warehouse from before runs were kept
                return {"runs": []}


# Demand ----------------------------------------------------------------------------------------

class DemandArgs(ma.Schema):
    store_code = fields.String(required=True, validate=validate.Length(min=1, max=32))
    sku = fields.String(required=True, validate=validate.Length(min=1, max=64))
    weeks = fields.Integer(load_default=104, validate=validate.Range(min=13, max=520))
    horizon = fields.Integer(load_default=8, validate=validate.Range(min=1, max=26))
    format = FORMAT


class DemandSchema(ma.Schema):
    store_code = fields.String()
    sku = fields.String()
    weeks = fields.List(fields.Dict(), metadata={"description": "week start, quantity sold"})
    forecast = fields.List(fields.Dict())
    method = fields.String()
    beats_baseline = fields.Boolean()
    trend_per_week = fields.Float()
    error = fields.Dict(metadata={"description": "backtest MAE/WAPE/MASE, model and baseline"})


@bp.route("/demand")
class Demand(MethodView):
    @require_role(*PEOPLE)
    @bp.arguments(DemandArgs, location="query")
    @bp.response(200, DemandSchema)
    @bp.alt_response(200, schema=CSV_TEXT, content_type="text/csv", success=True,
                     description="with format=csv: the rows as CSV")
    def get(self, args):
        """A store's weekly sales of a product (zeros included), its trend and the next weeks'
        forecast with its error on held-out weeks beside the seasonal-naive baseline."""
        with db().read() as session:
            store = session.scalars(select(Store).where(Store.code == args["store_code"])).first()
            product = session.scalars(select(Product).where(Product.sku == args["sku"])).first()
        user = g.user
        if store is None or product is None or (
                user.role == "regional_manager" and store.region_id != user.region_id) or (
                user.role == "store_manager" and store.id != user.store_id):
            raise NotFound("No such store or product here.", code="not_found")
        with _Warehouse() as con:
            rows = con.execute("""
                WITH weeks AS (
                    SELECT range::DATE AS week FROM range(
                        date_trunc('week', current_date - ?::INTEGER * 7)::TIMESTAMP,
                        date_trunc('week', current_date)::TIMESTAMP, INTERVAL 7 DAY))
                SELECT w.week, coalesce(sum(f.quantity_milli), 0) / 1000.0
                FROM weeks w LEFT JOIN fact_sale_line f
                  ON date_trunc('week', f.sold_at)::DATE = w.week AND f.store_id = ?
                 AND f.product_id = ? AND f.status = 'completed'
                GROUP BY w.week ORDER BY w.week""",
                               [args["weeks"], store.id, product.id]).fetchall()
        history = np.array([q for _w, q in rows], dtype=float)
        holdout = min(8, max(1, len(history) // 4))
        result = demand.forecast(history, args["horizon"], season=52, holdout=holdout)
        last = rows[-1][0]
        forecast = [{"week": (last + timedelta(weeks=i + 1)).isoformat(),
                     "quantity": round(v, 2)} for i, v in enumerate(result.values)]
        if args["format"] == "csv":
            return csv_response(f"demand-{store.code}-{product.sku}",
                        [{"week": w.isoformat(), "sold": q, "forecast": None} for w, q in rows]
                        + [{"week": f["week"], "sold": None, "forecast": f["quantity"]}
                           for f in forecast])
        return {
            "store_code": store.code, "sku": product.sku,
            "weeks": [{"week": w.isoformat(), "quantity": q} for w, q in rows],
            "forecast": forecast,
            "method": result.method, "beats_baseline": result.beats_baseline,
            "trend_per_week": round(result.trend_per_week, 3),
            "error": {"model": _error(result.candidate_error), "candidate": result.candidate,
                      "baseline": _error(result.baseline_error)}}


def _error(e) -> dict:
    return {"mae": e.mae, "wape": e.wape, "mase": e.mase}

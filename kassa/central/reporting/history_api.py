"""Customers' purchases from before kassa, sent as the previous system's CSV export
(``kassa.central.reporting.history_import``): central office and admins only, like the product
import.
"""

from __future__ import annotations

import marshmallow as ma
from flask import g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields

from kassa.central.access.auth import require_role
from kassa.central.handlers import OPERATORS, csv_body, db
from kassa.central.reporting import history_import
from kassa.common.web import FileImportReportSchema, report_or_refusal

bp = Blueprint("history", __name__, url_prefix="/api/v1/history",
               description="Customers' purchase history from a previous system")


class HistoryImportArgsSchema(ma.Schema):
    dry_run = fields.Boolean(load_default=False, metadata={
        "description": "check every row and answer the summary, load nothing"})


class HistoryReportSchema(FileImportReportSchema):
    loaded = fields.Integer()
    customers = fields.Integer()
    first_at = fields.DateTime(allow_none=True)
    last_at = fields.DateTime(allow_none=True)
    amount_minor = fields.Integer()
    quantity_milli = fields.Integer()


@bp.route("/import")
class Import(MethodView):
    decorators = [require_role(*OPERATORS)]

    @bp.arguments(HistoryImportArgsSchema, location="query")
    @bp.response(200, HistoryReportSchema)
    @bp.alt_response(422, schema=report_or_refusal(HistoryReportSchema),
                     description="bad rows, nothing loaded")
    def post(self, args):
        """Load customers' purchases from a CSV body (``text/csv``; columns ``customer, date,
        quantity, amount`` and optionally ``store, product``): all rows or none; the same file
        again changes nothing (``already_imported``)."""
        csv_body()  # 415 unless text/csv, 422 unless UTF-8, as for every CSV import
        with db().transaction() as session:
            report = history_import.import_history(session, request.get_data(),
                                                   dry_run=args["dry_run"], actor_id=g.user.id)
        if report.errors_total:
            return HistoryReportSchema().dump(report), 422
        return report

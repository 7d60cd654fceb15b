"""The till's devices at its API: reprint a receipt, print an X report, open the drawer, and
the printer's state."""

from __future__ import annotations

import marshmallow as ma
from flask import current_app, g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from kassa.pos_node.devices import drawer, print_queue, printouts
from kassa.pos_node.sale import shifts
from kassa.pos_node.screens.schemas import OverrideSchema
from kassa.pos_node.screens.signed_in import fiscal_register, till_user, work
from kassa.pos_node.screens.till_api import override_of

bp = Blueprint("devices", __name__, url_prefix="/api/v1",
               description="The receipt printer and the cash drawer")


class ReprintSchema(ma.Schema):
    receipt_no = fields.String(load_default=None, allow_none=True,
                               validate=validate.Length(min=1, max=64),
                               metadata={"description": "default: the last receipt printed"})


class ReprintOutSchema(ma.Schema):
    receipt_no = fields.String()


class OpenDrawerSchema(ma.Schema):
    override = fields.Nested(OverrideSchema)  # always needed: without it, 403 with the reason


class OpenedSchema(ma.Schema):
    override_id = fields.UUID()


class PrinterOutSchema(ma.Schema):
    state = fields.String(metadata={"description": "off, ready, paper_low, no_paper, "
                                    "cover_open, offline, error, unreachable, unknown"})
    waiting = fields.Integer(metadata={"description": "print jobs not printed yet"})


def fiscal_status() -> dict:
    """The fiscal register's state as last found (``off`` without one)."""
    watch = current_app.extensions.get("kassa_fiscal_watch")
    return watch.state() if watch is not None else {"state": "off", "shift": None, "unsent": 0}


def printer_status() -> dict:
    worker = current_app.extensions.get("kassa_printer")
    return worker.status() if worker is not None else {"state": "off", "waiting": 0}


@bp.route("/printer")
class Printer(MethodView):
    decorators = [till_user]

    @bp.response(200, PrinterOutSchema)
    def get(self):
        """The printer's state as it last answered, and the jobs waiting for it."""
        with work(read_only=True):
            return printer_status()


@bp.route("/printer/reprint")
class Reprint(MethodView):
    decorators = [till_user]

    @bp.arguments(ReprintSchema)
    @bp.response(202, ReprintOutSchema)
    def post(self, body):
        """Print a receipt again, marked COPY: the last one, or the one named."""
        with work() as s:
            drawer.printing(s)
            return {"receipt_no": printouts.reprint_last(s, body["receipt_no"])}


@bp.route("/shifts/current/x-report")
class PrintXReport(MethodView):
    decorators = [till_user]

    @bp.response(202, description="the X report printed")
    def post(self):
        """Print the open shift's X report (its totals so far) on the receipt printer, and
        have the fiscal register print its own X report where the till has one."""
        register = fiscal_register()
        with work() as s:
            if register is None:
                drawer.printing(s)  # nothing to print it on: printer_off
            report = shifts.report(s, shifts.require_open(s))
            print_queue.x_report(s, report)  # a till without a printer queues nothing
            cashier = g.user.full_name or g.user.username
        if register is not None:  # outside the till's transaction: the register answers slowly
            register.report_x(cashier)
        return report


@bp.route("/drawer/open")
class OpenDrawer(MethodView):
    decorators = [till_user]

    @bp.arguments(OpenDrawerSchema)
    @bp.response(202, OpenedSchema)
    def post(self, body):
        """Open the cash drawer without a sale (a store manager's PIN is required)."""
        with work() as s:
            granted = drawer.open_drawer(s, g.user, override_of(body))
            return {"override_id": granted.id}

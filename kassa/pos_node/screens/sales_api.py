"""Completing, reading and post-voiding sales; returns, at the till's API."""

from __future__ import annotations

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint

from kassa.common.errors import KassaError, NotFound
from kassa.common.money import quantity_to_milli
from kassa.pos_node.devices import fiscal
from kassa.pos_node.replication.client import SyncError, ask
from kassa.pos_node.sale import cart, fiscalising, returns, sales
from kassa.pos_node.screens.card_api import reader
from kassa.pos_node.screens.schemas import (
    BlindReturnInSchema,
    CheckoutSchema,
    PostVoidSchema,
    ReceiptQuerySchema,
    ReturnInSchema,
    ReturnOutSchema,
    SaleInSchema,
    SaleOutSchema,
)
from kassa.pos_node.screens.signed_in import db, fiscal_register, till_user, work
from kassa.pos_node.screens.till_api import override_of

bp = Blueprint("sales", __name__, url_prefix="/api/v1", description="Selling and returns")


def tenders(body: dict) -> list[cart.Tender]:
    return [cart.Tender(p["method"], p["amount"], p.get("reference")) for p in body["payments"]]


def line_request(body: dict) -> sales.LineRequest:
    return sales.LineRequest(quantity_to_milli(body["quantity"]), body.get("sku"),
                             body.get("barcode"), body.get("product_id"))


@bp.route("/cart/checkout")
class Checkout(MethodView):
    decorators = [till_user]

    @bp.arguments(CheckoutSchema)
    @bp.response(201, SaleOutSchema)
    def post(self, body):
        """Take payment for the sale in progress and complete it; with a fiscal register,
        its receipt is registered first (a refusal leaves the sale open, with the reason)."""
        email, register = body["receipt_email"], fiscal_register()
        receipt = None
        if register is not None:
            with work() as s:  # committed: the task id is on the sale before it is sent
                document = fiscalising.prepare_sale(s, g.user, tenders(body),
                                                    body["customer_id"], email)
            try:
                receipt = register.register(document)
            except (fiscal.FiscalRefused, fiscal.FiscalMismatch):
                with work() as s:
                    fiscalising.forget_task(s, document.task_id)
                raise
        with work() as s:
            sale = sales.checkout(s, g.user, tenders(body), body["customer_id"],
                                  fiscal=receipt, receipt_email=email)
        # Committed: now the card gets its new record (a card pulled out does not undo it).
        sale.card_record_written = reader().write_after(sale.card_number)
        return sale


@bp.route("/sales")
class Sales(MethodView):
    decorators = [till_user]

    @bp.arguments(SaleInSchema)
    @bp.response(201, SaleOutSchema)
    def post(self, body):
        """A whole sale in one request: lines priced from the local replica, then payment."""
        if fiscal_register() is not None:
            raise KassaError("With a fiscal register, sell through the cart (POST /cart/lines, "
                             "then /cart/checkout): its receipt can then be asked for again "
                             "after a lost answer.", code="fiscal_needs_cart", status=422)
        with work() as s:
            return sales.quick_sale(s, g.user, [line_request(ln) for ln in body["lines"]],
                                    tenders(body), body["customer_id"], body["receipt_email"])


@bp.route("/sales/<uuid:sale_id>")
class SaleById(MethodView):
    decorators = [till_user]

    @bp.response(200, SaleOutSchema)
    def get(self, sale_id):
        """A sale made at this till."""
        with work(read_only=True) as s:
            return sales.get_sale(s, sale_id)


@bp.route("/sales/<uuid:sale_id>/post-void")
class PostVoid(MethodView):
    decorators = [till_user]

    @bp.arguments(PostVoidSchema)
    @bp.response(200, SaleOutSchema)
    def post(self, body, sale_id):
        """Cancel a completed sale of the open shift (a manager's PIN is required)."""
        with work() as s:
            return sales.post_void(s, g.user, sale_id, body["reason"], override_of(body),
                                   fiscal_register())


def find_original(receipt_no: str) -> returns.OriginalSale:
    """The sale behind a receipt: ours from the local database, another till's from central."""
    with db().read() as s:
        node = sales.identity(s)
        if returns.is_local_receipt(node.node_id, receipt_no):
            original = returns.local_original(s, receipt_no)
            if original is None:
                raise NotFound("No sale with receipt %(receipt_no)s at this till.",
                               code="receipt_not_found", receipt_no=receipt_no)
            return original
    try:
        doc = ask(db(), "GET", f"/api/v1/sync/sales/{receipt_no}")
    except SyncError as err:
        if err.code == "sale_not_found":
            raise NotFound("Central has no sale with receipt %(receipt_no)s.",
                           code="receipt_not_found", receipt_no=receipt_no) from err
        raise KassaError(
            "Receipt %(receipt_no)s is from another till, and central cannot be reached "
            "to check it (%(reason)s). Try again when the till is online.",
            code="central_unreachable", status=503, receipt_no=receipt_no,
            reason=err.code) from err
    original = returns.original_from_central(doc)
    with db().read() as s:
        returns.add_unsent_returns(s, original, set(doc.get("return_ids", [])))
    return original


@bp.route("/returns/lookup")
class ReturnLookup(MethodView):
    decorators = [till_user]

    @bp.arguments(ReceiptQuerySchema, location="query")
    @bp.response(200, description="the sale's lines with what can still be returned")
    def get(self, args):
        """What can still be returned from a receipt, line by line."""
        return returns.OriginalSale.to_dict(find_original(args["receipt"]))


@bp.route("/returns")
class Returns(MethodView):
    decorators = [till_user]

    @bp.arguments(ReturnInSchema)
    @bp.response(201, ReturnOutSchema)
    def post(self, body):
        """Return lines of a receipt (partly or whole); refunds by the original payments."""
        original = find_original(body["receipt_no"])
        wanted = [(ln["line_no"], quantity_to_milli(ln["quantity"])) for ln in body["lines"]]
        with work() as s:
            if returns.is_local_receipt(sales.identity(s).node_id, body["receipt_no"]):
                original = returns.local_original(s, body["receipt_no"])  # re-read under lock
            return returns.return_against_receipt(s, g.user, original, wanted, body["reason"],
                                                  override_of(body), body["authorization_id"],
                                                  fiscal_register())


@bp.route("/returns/blind")
class BlindReturns(MethodView):
    decorators = [till_user]

    @bp.arguments(BlindReturnInSchema)
    @bp.response(201, ReturnOutSchema)
    def post(self, body):
        """Take goods back without a receipt (a manager's PIN is required)."""
        items = [({k: ln[k] for k in ("sku", "barcode", "product_id") if k in ln},
                  quantity_to_milli(ln["quantity"])) for ln in body["lines"]]
        with work() as s:
            return returns.blind_return(s, g.user, items, body["reason"], override_of(body),
                                        body["authorization_id"], fiscal_register())

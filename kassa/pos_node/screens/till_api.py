"""The till's API for people at it: sign-in, shifts, the cart, product search.

Handlers parse with marshmallow, call one service function inside one transaction and
return what it produced; the rules live in the service modules.
"""

from __future__ import annotations

import marshmallow as ma
from flask import current_app, g, session
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from kassa.common.errors import Conflict
from kassa.common.money import quantity_to_milli
from kassa.pos_node.cards import till_loyalty
from kassa.pos_node.sale import catalog, customers, fiscalising, sales, shifts, staff
from kassa.pos_node.screens.card_api import release_hold, with_customer
from kassa.pos_node.screens.schemas import (
    CashMoveSchema,
    CloseShiftSchema,
    LineInSchema,
    LineUpdateSchema,
    OpenShiftSchema,
    ReceiptDiscountSchema,
    SaleOutSchema,
    SearchQuerySchema,
    SignedInSchema,
    SignInSchema,
    UserOutSchema,
    VoidSchema,
)
from kassa.pos_node.screens.signed_in import (
    close_session,
    db,
    fiscal_register,
    open_session,
    till_user,
    work,
)

bp = Blueprint("till", __name__, url_prefix="/api/v1", description="Working at the till")


def override_of(body: dict) -> staff.OverrideRequest | None:
    o = body.get("override")
    return staff.OverrideRequest(o["username"], o["pin"], o["reason"]) if o else None


def bp_from_percent(value) -> int:
    return int(value * 100)


@bp.route("/session")
class Session(MethodView):
    @bp.arguments(SignInSchema)
    @bp.response(200, SignedInSchema)
    def post(self, body):
        """Sign in at this till with user name and PIN."""
        with db().transaction() as s:
            user = staff.sign_in(s, sales.identity(s).store_id, body["username"], body["pin"])
            open_session(s, user)
            return {**UserOutSchema().dump(user), "csrf": session["csrf"]}

    @till_user
    @bp.response(200, UserOutSchema)
    def get(self):
        """Who is signed in."""
        with work(read_only=True):
            return g.user

    @bp.response(204)
    def delete(self):
        """Sign out: the session ends on the till too (a copy of the cookie stops working)."""
        close_session()


@bp.route("/shifts/current")
class CurrentShift(MethodView):
    decorators = [till_user]

    @bp.response(200, description="the X report")
    def get(self):
        """The open shift's X report (totals so far), or 404 when none is open."""
        with work(read_only=True) as s:
            return shifts.report(s, shifts.require_open(s))

    @bp.arguments(OpenShiftSchema)
    @bp.response(201)
    def post(self, body):
        """Open a shift with a cash float (and the fiscal register's shift with it)."""
        register = fiscal_register()
        if register is not None:
            with work(read_only=True) as s:
                if shifts.current(s) is not None:
                    raise Conflict("A shift is already open at this till.",
                                   code="shift_already_open")
            register.open_shift(fiscalising.cashier_name(g.user))
        with work() as s:
            shift = shifts.open_shift(s, g.user, body["opening_float"])
            return shifts.report(s, shift)


@bp.route("/shifts/current/cash")
class Cash(MethodView):
    decorators = [till_user]

    @bp.arguments(CashMoveSchema)
    @bp.response(201)
    def post(self, body):
        """Put cash in or take it out of the drawer."""
        with work() as s:
            shifts.move_cash(s, g.user, body["kind"], body["amount"], body["reason"])
            return shifts.report(s, shifts.require_open(s))


@bp.route("/shifts/current/close")
class CloseShift(MethodView):
    decorators = [till_user]

    @bp.arguments(CloseShiftSchema)
    @bp.response(200)
    def post(self, body):
        """Close the shift with the counted cash; answers the Z report. With a fiscal
        register its shift closes first (its Z report): a refusal leaves both open."""
        register = fiscal_register()
        if register is not None:
            with work(read_only=True) as s:
                shifts.check_closable(s, body["counted_cash"])
            register.close_shift(fiscalising.cashier_name(g.user))
        with work() as s:
            return shifts.close_shift(s, g.user, body["counted_cash"])


EMPTY_CART = {"status": "empty", "lines": [], "payments": [], "gross_minor": 0,
              "discount_minor": 0, "total_minor": 0, "vat_minor": 0, "receipt_discount_bp": 0,
              "change_minor": 0}


@bp.route("/cart")
class Cart(MethodView):
    decorators = [till_user]

    @bp.response(200, SaleOutSchema)
    def get(self):
        """The sale in progress, or an empty one."""
        with work(read_only=True) as s:
            return with_customer(s, sales.open_cart(s)) or EMPTY_CART


@bp.route("/cart/lines")
class CartLines(MethodView):
    decorators = [till_user]

    @bp.arguments(LineInSchema)
    @bp.response(201, SaleOutSchema)
    def post(self, body):
        """Add an item by barcode, SKU/PLU or product id (scanning again counts up)."""
        req = sales.LineRequest(quantity_to_milli(body["quantity"]), body.get("sku"),
                                body.get("barcode"), body.get("product_id"))
        with work() as s:
            return sales.add_item(s, g.user, req)


@bp.route("/cart/lines/<int:line_no>")
class CartLine(MethodView):
    decorators = [till_user]

    @bp.arguments(LineUpdateSchema)
    @bp.response(200, SaleOutSchema)
    def patch(self, body, line_no):
        """Change a line's quantity, discount or price (over the limit: a manager override,
        beyond the store manager's: central's authorization)."""
        with work() as s:
            return sales.update_line(
                s, g.user, line_no,
                quantity_milli=quantity_to_milli(body["quantity"]) if "quantity" in body
                else None,
                discount_bp=bp_from_percent(body["discount_percent"])
                if "discount_percent" in body else None,
                unit_price_minor=body.get("unit_price_minor"),
                override=override_of(body), authorization_id=body.get("authorization_id"))

    @bp.response(200, SaleOutSchema)
    def delete(self, line_no):
        """Remove a line."""
        with work() as s:
            return sales.remove_line(s, g.user, line_no)


@bp.route("/cart/discount")
class CartDiscount(MethodView):
    decorators = [till_user]

    @bp.arguments(ReceiptDiscountSchema)
    @bp.response(200, SaleOutSchema)
    def put(self, body):
        """Set a discount on the whole receipt."""
        with work() as s:
            return sales.set_receipt_discount(s, g.user, bp_from_percent(body["discount_percent"]),
                                              override_of(body), body["authorization_id"])


@bp.route("/cart/void")
class CartVoid(MethodView):
    decorators = [till_user]

    @bp.arguments(VoidSchema)
    @bp.response(200, SaleOutSchema)
    def post(self, body):
        """Void the sale in progress."""
        with work() as s:
            sale = sales.void_cart(s, g.user, body["reason"])
            hold = till_loyalty.clear_points(sale)
        release_hold(hold)
        return sale


class ProductHitSchema(ma.Schema):
    product_id = fields.Integer()
    sku = fields.String()
    name = fields.String()
    unit = fields.String()
    price_minor = fields.Integer(metadata={"description": "this store's price now"})


class ProductSearchSchema(ma.Schema):
    products = fields.List(fields.Nested(ProductHitSchema))


@bp.route("/products")
class Products(MethodView):
    decorators = [till_user]

    @bp.arguments(SearchQuerySchema, location="query")
    @bp.response(200, ProductSearchSchema)
    def get(self, args):
        """Search products by name or SKU (every word a prefix)."""
        with work(read_only=True) as s:
            return {"products": catalog.search(s, sales.identity(s).store_id, args["q"],
                                               args["limit"])}


class CustomerQuerySchema(ma.Schema):
    q = fields.String(required=True, validate=validate.Length(min=3, max=32))


class CustomerOutSchema(ma.Schema):
    id = fields.UUID()
    name = fields.String()
    card_number = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)


class CustomerListSchema(ma.Schema):
    customers = fields.List(fields.Nested(CustomerOutSchema))


class CustomerEditSchema(ma.Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    phone = fields.String(allow_none=True, validate=validate.Regexp(r"^\+?[0-9 ()-]{5,32}\Z"))
    email = fields.Email(allow_none=True, validate=validate.Length(max=200))


@bp.route("/customers")
class Customers(MethodView):
    decorators = [till_user]

    @bp.arguments(CustomerQuerySchema, location="query")
    @bp.response(200, CustomerListSchema)
    def get(self, args):
        """Find a customer by exact card or phone number."""
        with work(read_only=True) as s:
            return {"customers": customers.find(s, args["q"])}


@bp.route("/customers/<uuid:customer_id>")
class CustomerEdit(MethodView):
    decorators = [till_user]

    @bp.arguments(CustomerEditSchema)
    @bp.response(200, CustomerOutSchema)
    def patch(self, body, customer_id):
        """Correct a customer's name, phone or e-mail (works offline; central decides
        conflicting edits field by field)."""
        with work() as s:
            return customers.update(s, g.user, customer_id, body)


class ComplaintInSchema(ma.Schema):
    text = fields.String(required=True, validate=validate.Length(min=3, max=2000))
    customer_id = fields.UUID(load_default=None, allow_none=True, metadata={
        "description": "default: the open sale's customer"})


class ComplaintOutSchema(ma.Schema):
    complaint_id = fields.UUID()
    customer_id = fields.UUID(allow_none=True)
    at = fields.AwareDateTime()


@bp.route("/complaints")
class Complaints(MethodView):
    decorators = [till_user]

    @bp.arguments(ComplaintInSchema)
    @bp.response(201, ComplaintOutSchema)
    def post(self, body):
        """Note a customer's complaint; central gives the store manager a task to answer it
        (offline it waits for the next push)."""
        with work() as s:
            return customers.log_complaint(s, g.user, body["text"], body["customer_id"])


class TriggeredSchema(ma.Schema):
    triggered = fields.Boolean()


@bp.route("/node/sync")
class SyncNow(MethodView):
    decorators = [till_user]

    @bp.response(202, TriggeredSchema)
    def post(self):
        """Ask the background sync to run now (it answers at once; the badge shows the
        outcome)."""
        with work(read_only=True):
            scheduler = current_app.extensions.get("kassa_sync")
        if scheduler is not None:
            scheduler.trigger()
        return {"triggered": scheduler is not None}

"""The loyalty card and the customer at the till's API: what is in the reader, whose sale it
is, and points put towards the sale (online under central's hold, offline within the card's
allowance)."""

from __future__ import annotations

import logging
import uuid

import marshmallow as ma
from flask import current_app, g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from kassa.common.errors import Conflict, KassaError
from kassa.pos_node.cards import till_loyalty
from kassa.pos_node.cards.card_reader import CardReader, CardState
from kassa.pos_node.models import BlockedCard, Customer, Sale, StockCard
from kassa.pos_node.replication.client import SyncError, ask
from kassa.pos_node.sale import approvals, offers, sales
from kassa.pos_node.screens.schemas import SaleOutSchema
from kassa.pos_node.screens.signed_in import db, till_user, work

bp = Blueprint("card", __name__, url_prefix="/api/v1",
               description="Loyalty cards, the sale's customer and points")
log = logging.getLogger("kassa.card")

CENTRAL_TIMEOUT = 3.0  # the cashier waits this long for central's hold, then goes offline


def reader() -> CardReader:
    return current_app.extensions["kassa_card_reader"]


class CardErrorSchema(ma.Schema):
    code = fields.String()
    message = fields.String()
    details = fields.Dict(allow_none=True)


class RecordSchema(ma.Schema):
    balance = fields.Integer()
    tier = fields.Integer()
    counter = fields.Integer()
    writer = fields.String()
    trusted = fields.Boolean()
    problem = fields.String(allow_none=True,
                            metadata={"description": "record_tampered | record_replayed"})


class ExpiringSchema(ma.Schema):
    date = fields.String()
    points = fields.Integer()


class AccountSchema(ma.Schema):
    account_id = fields.UUID()
    customer_id = fields.UUID()
    name = fields.String()
    card_number = fields.String(allow_none=True)
    card_has_pin = fields.Boolean()
    tier = fields.String()
    balance = fields.Integer()
    expiring = fields.List(fields.Nested(ExpiringSchema))


class CardOutSchema(ma.Schema):
    status = fields.String(metadata={"description": "no_reader | absent | identified | refused"})
    seq = fields.Integer(metadata={"description": "changes whenever the reader's state does"})
    reader = fields.String(allow_none=True)
    card_number = fields.String(allow_none=True)
    expiry = fields.Date(allow_none=True)
    error = fields.Nested(CardErrorSchema, allow_none=True)
    record = fields.Nested(RecordSchema, allow_none=True, metadata={
        "description": "the record as read when the card went in"})
    written = fields.Nested(RecordSchema, allow_none=True, metadata={
        "description": "the record this till last wrote to the card since"})
    record_written = fields.Boolean(allow_none=True)
    account = fields.Nested(AccountSchema, allow_none=True)
    account_error = fields.Nested(CardErrorSchema, allow_none=True)
    in_stock = fields.Boolean(metadata={
        "description": "a card of the store's stock, nobody's yet: give it to a new member"})


class CustomerInSchema(ma.Schema):
    card_number = fields.String(validate=validate.Regexp(r"^[0-9]{16}\Z"), load_default=None)
    customer_id = fields.UUID(load_default=None)
    authorization_id = fields.UUID(load_default=None, allow_none=True, metadata={
        "description": "central's approval to sell to a blocked customer"})

    @ma.validates_schema
    def one_of(self, data, **_kwargs):
        if (data["card_number"] is None) == (data["customer_id"] is None):
            raise ma.ValidationError("Give card_number or customer_id.")


class PointsInSchema(ma.Schema):
    points = fields.Integer(required=True, strict=True,
                            validate=validate.Range(min=1, max=10_000_000))
    pin = fields.String(load_default=None, validate=validate.Regexp(r"^[0-9]{4,8}\Z"))


def _error(err) -> dict | None:
    if err is None:
        return None
    return {"code": err.code, "message": str(err), "details": getattr(err, "details", None)}


def card_answer(state: CardState) -> dict:
    out = {"status": state.status, "seq": state.seq, "reader": state.reader,
           "card_number": state.card_number, "error": _error(state.error),
           "record_written": state.record_written, "expiry": None, "record": None,
           "written": None, "account": None, "account_error": None, "in_stock": False}
    if state.written is not None:
        out["written"] = {**state.written.__dict__, "trusted": True, "problem": None}
    if state.reading is not None:
        reading = state.reading
        out["expiry"] = reading.identity.expiry
        if reading.record is not None:
            out["record"] = {**reading.record.__dict__, "trusted": reading.record_trusted,
                             "problem": reading.record_problem}
        with db().read() as session:
            try:
                out["account"] = till_loyalty.by_card(session,
                                                      reading.identity.card_number).to_dict()
            except KassaError as err:
                out["account_error"] = _error(err)
                out["in_stock"] = session.get(StockCard,
                                              reading.identity.card_number) is not None
    return out


@bp.route("/card")
class Card(MethodView):
    decorators = [till_user]

    @bp.response(200, CardOutSchema)
    def get(self):
        """The card in the reader: its verified identity, the customer's account, balance,
        tier and expiring points, or the error code (``card_expired``, ``card_blocked``,
        ``card_clone_suspected``, ``card_unknown_issuer``...)."""
        return card_answer(reader().state())


def with_customer(session, sale: Sale | None):
    """The cart as the API shows it, with the customer's account when there is one and the
    personal offers it shows (a read shows only offers the cart already showed)."""
    if sale is None:
        return None
    sale.customer = None
    if sale.customer_id is not None:
        account = till_loyalty.by_customer(session, sale.customer_id)
        sale.customer = account.to_dict() if account else None
    if getattr(sale, "offers", None) is None:
        node = sales.identity(session)
        offers.refresh(session, sale, node.store_id, node.feed_cursor, record=False)
    return sale


def customer_changed(session, sale: Sale) -> None:
    """Lines taken under the previous customer's offers lose them; the new customer's offers
    are chosen (and recorded as shown)."""
    if offers.take_lines_back(sale):
        sales.reprice(session, sale)
    sales.refresh_offers(session, sale)


@bp.route("/cart/customer")
class CartCustomer(MethodView):
    decorators = [till_user]

    @bp.arguments(CustomerInSchema)
    @bp.response(200, SaleOutSchema)
    def post(self, body):
        """Make the sale in progress the customer's: by the card in the reader, a card number
        typed in (a damaged card: earns points, cannot spend them) or a customer found by
        phone. Opens a sale when none is in progress."""
        number = body["card_number"]
        in_reader = reader().card_in_reader()
        with work() as s:
            if number is not None:
                if s.get(BlockedCard, number) is not None:
                    raise Conflict("This card is blocked.", code="card_blocked")
                account = till_loyalty.by_card(s, number)
            else:
                account = till_loyalty.by_customer(s, body["customer_id"])
            customer_id = account.customer_id if account else body["customer_id"]
            sale = sales.start_cart(s, g.user)
            customer = s.get(Customer, customer_id)
            if customer is not None and customer.blocked and sale.customer_id != customer_id:
                central = approvals.require(s, "blocked_customer", 0,
                                            f"sale to {customer.name}",
                                            body["authorization_id"])
                sale.authorization_id = sale.authorization_id or central.id
            changed = sale.customer_id != customer_id
            till_loyalty.identify(sale, account, customer_id,
                                  number if number == in_reader else None)
            if changed:
                customer_changed(s, sale)
            return with_customer(s, sale)

    @bp.response(200, SaleOutSchema)
    def delete(self):
        """The sale is nobody's after all (points put towards it are taken off)."""
        hold = None
        with work() as s:
            sale = sales.require_cart(s)
            hold = till_loyalty.clear_points(sale)
            till_loyalty.identify(sale, None, None, None)
            customer_changed(s, sale)
            answer = with_customer(s, sale)
        release_hold(hold)
        return answer


@bp.route("/cart/points")
class CartPoints(MethodView):
    decorators = [till_user]

    @bp.arguments(PointsInSchema)
    @bp.response(200, SaleOutSchema)
    def post(self, body):
        """Pay part of the sale with points. The card must be in the reader, and its PIN
        given when it has one. Central holds the points when it can be reached; offline the
        till accepts them within the card's daily allowance, or refuses with the reason."""
        points = body["points"]
        with db().read() as s:
            sale = sales.require_cart(s)
            sales.reprice(s, sale)
            value = till_loyalty.points_value(s, sale, points)
            account = till_loyalty.by_customer(s, sale.customer_id)
            sale_id, previous = sale.id, sale.points_hold_id
        if reader().card_in_reader() != account.card_number:
            raise KassaError("Put the customer's card in the reader to spend points.",
                             code="card_required", status=422)
        if account.card_has_pin:
            if body["pin"] is None:
                raise KassaError("The customer's PIN is needed to spend points.",
                                 code="pin_required", status=422)
            reader().check_pin(account.card_number, body["pin"])
        hold_id = central_hold(account.account_id, points, sale_id)
        if hold_id is None:
            with db().read() as s:
                till_loyalty.offline_allowance_check(s, account.account_id, points)
        with work() as s:
            sale = sales.require_cart(s)
            if sale.id != sale_id:
                raise Conflict("The sale changed meanwhile.", code="sale_changed")
            till_loyalty.apply_points(sale, points, value, hold_id)
            answer = with_customer(s, sale)
        if previous is not None and previous != hold_id:
            release_hold(previous)
        return answer

    @bp.response(200, SaleOutSchema)
    def delete(self):
        """Take the points off the sale (central's hold is released)."""
        with work() as s:
            sale = sales.require_cart(s)
            hold = till_loyalty.clear_points(sale)
            if sale.card_number:
                reader().forget_pin(sale.card_number)
            answer = with_customer(s, sale)
        release_hold(hold)
        return answer


def central_hold(account_id: uuid.UUID, points: int, sale_id: uuid.UUID) -> uuid.UUID | None:
    """Central's hold on the points, or None when central cannot be reached (offline)."""
    try:
        answer = ask(db(), "POST", "/api/v1/loyalty/holds", {
            "account_id": str(account_id), "points": points, "sale_id": str(sale_id)},
            timeout=CENTRAL_TIMEOUT)
    except SyncError as err:
        if err.unanswered:
            return None
        status = 409 if err.code == "insufficient_points" else 422
        raise KassaError("Central refused the points: %(reason)s", code=err.code,
                         status=status, details=err.details or None, reason=str(err)) from None
    try:
        return uuid.UUID(str(answer["id"]))
    except (KeyError, ValueError):
        return None


def release_hold(hold_id: uuid.UUID | None) -> None:
    """Give held points back (best effort: a hold nobody releases expires by itself)."""
    if hold_id is None:
        return
    try:
        ask(db(), "POST", f"/api/v1/loyalty/holds/{hold_id}/release", timeout=CENTRAL_TIMEOUT)
    except SyncError as err:
        log.info("hold %s not released now (%s); it expires by itself", hold_id, err.code)

"""Cards at central's API: block one (lost, stolen...) so every till refuses it from its next
pull, lift the block (the card found), or replace it (a card from a store's stock, or a new
printed number); a regional manager for their region's customers only."""

from __future__ import annotations

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate
from sqlalchemy import select
from sqlalchemy.orm import Session

from kassa.central.access.auth import require_role
from kassa.central.crm import profiles
from kassa.central.handlers import STAFF, db
from kassa.central.membership import cards
from kassa.central.models import Card, Customer, LoyaltyAccount, Store
from kassa.common.errors import NotFound

bp = Blueprint("cards", __name__, url_prefix="/api/v1/cards", description="Loyalty cards")

CARD_NUMBER = validate.Regexp(r"^\d{16}$", error="16 digits.")


class BlockSchema(ma.Schema):
    reason = fields.String(required=True, validate=validate.OneOf(
        ("lost", "stolen", "damaged", "fraud")))


class ReplaceSchema(ma.Schema):
    stock_card = fields.String(load_default=None, allow_none=True, validate=CARD_NUMBER,
                               metadata={"description": "the stock card handed over (none: a "
                                                        "new printed card number)"})


class CardSchema(ma.Schema):
    card_number = fields.String()
    status = fields.String()
    kind = fields.String(metadata={"description": "chip | printed"})
    block_reason = fields.String(allow_none=True)
    blocked_at = fields.AwareDateTime(allow_none=True)
    expires_on = fields.Date()


def _reachable_card(session: Session, number: str) -> None:
    """404 unless ``number`` is a card the person may act on: their region's or store's
    customers' (a stock card: their region's or store's stock); anyone's for the office."""
    if not number.isdigit():
        raise NotFound("No card %(number)s.", code="card_not_found", number=number)
    reach = profiles.Reach.of(g.user)
    if reach.clause() is None:
        return
    by_customer = (select(Customer.id).join(LoyaltyAccount,
                                            LoyaltyAccount.customer_id == Customer.id)
                   .join(Card, Card.account_id == LoyaltyAccount.id)
                   .where(Card.card_number == number, reach.clause()))
    in_stock = (select(Card.card_number).join(Store, Store.id == Card.store_id)
                .where(Card.card_number == number, Card.account_id.is_(None),
                       Store.id == reach.store_id if reach.store_id is not None
                       else Store.region_id == reach.region_id))
    if session.scalar(by_customer) is None and session.scalar(in_stock) is None:
        raise NotFound("No card %(number)s.", code="card_not_found", number=number)


@bp.route("/<string(length=16):number>/block")
class Block(MethodView):
    decorators = [require_role(*STAFF)]

    @bp.arguments(BlockSchema)
    @bp.response(200, CardSchema)
    def post(self, body, number):
        """Block the card at once (audited); tills refuse it from their next pull."""
        with db().transaction() as session:
            _reachable_card(session, number)
            return cards.block(session, number, body["reason"], g.user.id)


@bp.route("/<string(length=16):number>/unblock")
class Unblock(MethodView):
    decorators = [require_role(*STAFF)]

    @bp.response(200, CardSchema)
    def post(self, number):
        """Lift the card's block (a lost card found; audited): tills accept it again from
        their next pull. A replaced card stays blocked (409 ``card_replaced``)."""
        with db().transaction() as session:
            _reachable_card(session, number)
            return cards.unblock(session, number, g.user.id)


@bp.route("/<string(length=16):number>/replace")
class Replace(MethodView):
    decorators = [require_role(*STAFF)]

    @bp.arguments(ReplaceSchema)
    @bp.response(201, CardSchema, description="the new card")
    def post(self, body, number):
        """Replace the card: a stock card handed over, or a new printed number, is the
        customer's card at once, with the same points; the old one is blocked everywhere
        (audited)."""
        with db().transaction() as session:
            _reachable_card(session, number)
            if body["stock_card"] is not None:
                _reachable_card(session, body["stock_card"])
            return cards.replace_at_office(session, number, g.user.id, body["stock_card"])

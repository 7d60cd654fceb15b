"""Cards at central's API: block one (lost, stolen...) so every till refuses it from its next
pull; a regional manager for their region's customers only."""

from __future__ import annotations

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate
from sqlalchemy import select

from kassa.central.access.auth import require_role
from kassa.central.handlers import STAFF, db
from kassa.central.membership import cards
from kassa.central.models import Card, Customer, LoyaltyAccount, Store
from kassa.common.errors import NotFound

bp = Blueprint("cards", __name__, url_prefix="/api/v1/cards", description="Loyalty cards")


class BlockSchema(ma.Schema):
    reason = fields.String(required=True, validate=validate.OneOf(
        ("lost", "stolen", "damaged", "fraud")))


class CardSchema(ma.Schema):
    card_number = fields.String()
    status = fields.String()
    block_reason = fields.String(allow_none=True)
    blocked_at = fields.AwareDateTime(allow_none=True)
    expires_on = fields.Date()


@bp.route("/<string(length=16):number>/block")
class Block(MethodView):
    decorators = [require_role(*STAFF)]

    @bp.arguments(BlockSchema)
    @bp.response(200, CardSchema)
    def post(self, body, number):
        """Block the card at once (audited); tills refuse it from their next pull."""
        if not number.isdigit():
            raise NotFound("No card %(number)s.", code="card_not_found", number=number)
        with db().transaction() as session:
            if g.user.role == "regional_manager":
                region = session.scalar(
                    select(Store.region_id).join(Customer, Customer.home_store_id == Store.id)
                    .join(LoyaltyAccount, LoyaltyAccount.customer_id == Customer.id)
                    .join(Card, Card.account_id == LoyaltyAccount.id)
                    .where(Card.card_number == number))
                if region != g.user.region_id:
                    raise NotFound("No card %(number)s.", code="card_not_found", number=number)
            return cards.block(session, number, body["reason"], g.user.id)

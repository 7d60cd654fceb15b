"""New members at the till's API: the cashier signs a customer up in the sale, with a card
from the store's stock (``kassa.pos_node.cards.new_members``)."""

from __future__ import annotations

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from kassa.common.formats.contacts import CONSENT_CHANNELS
from kassa.pos_node.cards import new_members, till_loyalty
from kassa.pos_node.sale import sales
from kassa.pos_node.screens.card_api import customer_changed, reader, with_customer
from kassa.pos_node.screens.schemas import SaleOutSchema
from kassa.pos_node.screens.signed_in import till_user, work

bp = Blueprint("members", __name__, url_prefix="/api/v1/members",
               description="New members signed up at the till")


class NewMemberSchema(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    phone = fields.String(load_default=None, allow_none=True,
                          validate=validate.Length(max=40))
    email = fields.String(load_default=None, allow_none=True,
                          validate=validate.Length(max=200))
    consents = fields.List(fields.String(validate=validate.OneOf(CONSENT_CHANNELS)),
                           load_default=list, validate=validate.Length(max=4), metadata={
                               "description": "the channels the customer agreed to"})
    card_number = fields.String(load_default=None, allow_none=True,
                                validate=validate.Regexp(r"^[0-9]{16}\Z"), metadata={
                                    "description": "a card of the store's stock: the smart "
                                                   "card in the reader, or a printed one's"})
    force = fields.Boolean(load_default=False, metadata={
        "description": "sign up although a customer here has the phone or e-mail"})


@bp.route("")
class Members(MethodView):
    decorators = [till_user]

    @bp.arguments(NewMemberSchema)
    @bp.response(201, SaleOutSchema)
    def post(self, body):
        """Sign a new member up, offline too, and make the sale in progress theirs (a new one
        when none is). A smart card from stock gets its first record now; the sale earns
        points at once. 409 ``likely_duplicate`` names the customer who has the phone or
        e-mail; ``card_taken``, ``not_stock_card``: the card cannot be given."""
        in_reader = reader().card_in_reader()
        member = new_members.NewMember(
            name=body["name"], phone=body["phone"], email=body["email"],
            consents=tuple(body["consents"]), card_number=body["card_number"],
            force=body["force"])
        with work() as s:
            customer = new_members.sign_up(s, g.user, member, card_in_reader=in_reader)
            sale = sales.start_cart(s, g.user)
            account = till_loyalty.by_customer(s, customer.id)
            number = customer.card_number
            till_loyalty.identify(sale, account, customer.id,
                                  number if number is not None and number == in_reader
                                  else None)
            customer_changed(s, sale)
            answer = with_customer(s, sale)
        if number is not None and number == in_reader:
            reader().write_after(number)  # the card's first record: the balance and tier
        return answer

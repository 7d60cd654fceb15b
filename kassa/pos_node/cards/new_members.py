"""New members signed up at the till, in the sale and offline too.

The cashier types the customer's name, phone and/or e-mail and the consents they give, and
gives them a card from the store's stock: the smart card in the reader, or a printed card's
number (scanned or keyed). The till makes the customer and their loyalty account in its
replica under ids of its own, so the sale earns points at once, and sends
``customer.registered`` up in the outbox, in the same transaction. Central takes it once and
judges the card and the duplicates (``kassa.central.membership.till_members``); its record and
account then come back down in the feed.

A phone or e-mail a customer at this till already has is refused with that customer (the
cashier makes the sale theirs instead) unless the cashier insists: people share a family
phone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from kassa.common.db import utcnow
from kassa.common.errors import Conflict, Invalid, NotFound
from kassa.common.formats.contacts import CONSENT_CHANNELS, normal_email, normal_phone
from kassa.pos_node.models import Customer, LoyaltyAccount, StockCard, User
from kassa.pos_node.replication.outbox import append_event


@dataclass(frozen=True)
class NewMember:
    name: str
    phone: str | None = None
    email: str | None = None
    consents: tuple[str, ...] = ()  # the channels the customer agreed to
    card_number: str | None = None
    force: bool = False  # sign up although a customer here has the phone or e-mail


def sign_up(session: Session, user: User, member: NewMember, *,
            card_in_reader: str | None) -> Customer:
    """The new member, their account, and the ``customer.registered`` event. A stock smart
    card must be the one in the reader (the till writes its first record next)."""
    name = member.name.strip()
    if not 1 <= len(name) <= 200:
        raise Invalid("A member needs a name (up to 200 characters).", code="name_required")
    phone, email = normal_phone(member.phone), normal_email(member.email)
    if phone is None and email is None:
        raise Invalid("Give a phone number or an e-mail address, or both.",
                      code="contact_required")
    unknown = sorted(set(member.consents) - set(CONSENT_CHANNELS))
    if unknown:
        raise Invalid("Unknown consent channel %(channel)s.", code="bad_channel",
                      channel=unknown[0])
    if not member.force:
        _refuse_known_contact(session, phone, email)
    stock = _stock_card(session, member.card_number, card_in_reader)
    customer = Customer(id=uuid.uuid4(), name=name, phone=phone, email=email,
                        card_number=member.card_number, card_has_pin=False, blocked=False)
    account = LoyaltyAccount(id=uuid.uuid4(), customer_id=customer.id, tier="base", balance=0,
                             expiring=[])
    session.add_all([customer, account])
    if stock is not None:
        session.delete(stock)
    session.flush()
    append_event(session, "customer.registered", {
        "customer_id": customer.id, "account_id": account.id, "name": name, "phone": phone,
        "email": email, "consents": [{"channel": c, "granted": True}
                                     for c in dict.fromkeys(member.consents)],
        "card_number": member.card_number, "user_id": user.id, "at": utcnow()})
    return customer


def _refuse_known_contact(session: Session, phone: str | None, email: str | None) -> None:
    matches = [column == value for column, value in ((Customer.phone, phone),
                                                     (Customer.email, email)) if value]
    found = session.scalars(select(Customer).where(or_(*matches)).limit(1)).first()
    if found is not None:
        raise Conflict("%(name)s has this phone number or e-mail already: make the sale "
                       "theirs, or sign up anyway (a shared phone).", code="likely_duplicate",
                       name=found.name, details={"customer_id": str(found.id),
                                                 "name": found.name})


def _stock_card(session: Session, number: str | None,
                card_in_reader: str | None) -> StockCard | None:
    if number is None:
        return None
    stock = session.get(StockCard, number)
    if stock is None:
        holder = session.scalars(select(Customer).where(Customer.card_number == number)).first()
        if holder is not None:
            raise Conflict("Card %(number)s is %(name)s's already.", code="card_taken",
                           number=number, name=holder.name)
        raise NotFound("Card %(number)s is not in this store's stock.", code="not_stock_card",
                       number=number)
    if stock.kind == "chip" and card_in_reader != number:
        raise Invalid("Put the new card in the reader: a smart card gets its first record "
                      "now.", code="card_required")
    return stock

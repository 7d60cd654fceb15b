"""The CRM side of central: finding a customer by what a channel knows (card, phone, e-mail),
leads, contacts on every channel, consents with their history, and the customer 360 view.

Phones and e-mails are stored normalised so that a call's caller id, a web form's field and a
till's entry find the same person. Sales stay where they are (``sales``); the 360 view and its
timeline read them beside the interactions.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from kassa.central import audit
from kassa.central.models import (
    Card,
    Consent,
    Customer,
    Interaction,
    LoyaltyAccount,
    LoyaltyEntry,
    Return,
    Sale,
    Store,
    User,
)
from kassa.common.db import utcnow
from kassa.common.errors import Invalid, NotFound

CHANNELS = ("call", "email", "web_form", "chat", "social", "event", "meeting", "sms", "letter")
CONSENT_CHANNELS = ("sms", "email", "phone")
_DIGITS = re.compile(r"\D")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normal_phone(text: str | None) -> str | None:
    """``+7 (900) 000-00-01``, ``8 900 000 00 01`` and ``9000000001`` are all ``+79000000001``
    (Russian numbers; others keep their country code, digits only, after a ``+``)."""
    if not text or not text.strip():
        return None
    digits = _DIGITS.sub("", text)
    if len(digits) == 11 and digits[0] in "78":
        digits = "7" + digits[1:]
    elif len(digits) == 10 and digits[0] == "9":
        digits = "7" + digits
    if not 7 <= len(digits) <= 15:
        raise Invalid(f"{text!r} is not a phone number.", code="bad_phone")
    return "+" + digits


def normal_email(text: str | None) -> str | None:
    if not text or not text.strip():
        return None
    email = text.strip().lower()
    if not _EMAIL.match(email) or len(email) > 200:
        raise Invalid(f"{text!r} is not an e-mail address.", code="bad_email")
    return email


def find(session: Session, *, card_number: str | None = None, phone: str | None = None,
         email: str | None = None) -> Customer | None:
    """The customer a channel points at: by card first, then phone, then e-mail (the oldest
    record when several share a phone: duplicates are merged elsewhere)."""
    if card_number:
        found = session.scalars(select(Customer).where(
            Customer.card_number == card_number)).first()
        if found is not None:
            return found
    for column, value in ((Customer.phone, normal_phone(phone)),
                          (Customer.email, normal_email(email))):
        if value:
            found = session.scalars(select(Customer).where(column == value)
                                    .order_by(Customer.created_at)).first()
            if found is not None:
                return found
    return None


def new_lead(session: Session, name: str, *, phone: str | None, email: str | None,
             source: dict, home_store: Store | None = None) -> Customer:
    """A person known from a contact, not yet a buyer. Not in the tills' feed until they get a
    card or buy (a lead is office work)."""
    phone, email = normal_phone(phone), normal_email(email)
    if not phone and not email:
        raise Invalid("A lead needs a phone number or an e-mail address.", code="lead_contact")
    lead = Customer(name=name.strip()[:200] or "(no name)", phone=phone, email=email,
                    status="lead", lead_source=source,
                    home_store_id=home_store.id if home_store else None)
    session.add(lead)
    session.flush()
    return lead


def record_interaction(session: Session, customer: Customer, *, channel: str,
                       direction: str, subject: str, body: str = "", at: datetime | None = None,
                       store_id: int | None = None, user_id: int | None = None,
                       external_id: str | None = None,
                       source: dict | None = None) -> tuple[Interaction, bool]:
    """Add one contact to the customer's timeline; with ``external_id`` a repeat is the same
    interaction (returned with ``False``)."""
    if channel not in CHANNELS:
        raise Invalid(f"Unknown channel {channel!r}.", code="bad_channel")
    if external_id:
        earlier = session.scalars(select(Interaction).where(
            Interaction.external_id == external_id)).first()
        if earlier is not None:
            return earlier, False
    row = Interaction(customer_id=customer.id, channel=channel, direction=direction,
                      subject=subject[:200], body=body, at=at or utcnow(), store_id=store_id,
                      recorded_by_id=user_id, external_id=external_id, source=source)
    session.add(row)
    session.flush()
    return row, True


def set_consent(session: Session, customer: Customer, channel: str, granted: bool,
                source: str, user: User | None = None, at: datetime | None = None) -> Consent:
    """Record a consent given or withdrawn (a row of its history) unless it is already so."""
    if channel not in CONSENT_CHANNELS:
        raise Invalid(f"Unknown consent channel {channel!r}.", code="bad_channel")
    current = consents(session, customer.id).get(channel)
    if current is not None and current.granted == granted:
        return current
    row = Consent(customer_id=customer.id, channel=channel, granted=granted,
                  at=at or utcnow(), source=source[:100],
                  recorded_by_id=user.id if user else None)
    session.add(row)
    session.flush()
    audit.record(session, "consent:" + ("given" if granted else "withdrawn"),
                 f"customer {customer.id} {channel}", actor_id=user.id if user else None,
                 reason=source, details={"channel": channel, "granted": granted})
    return row


def consents(session: Session, customer_id: uuid.UUID) -> dict[str, Consent]:
    """The consent in force per channel (the newest row of each)."""
    rows = session.scalars(select(Consent).where(Consent.customer_id == customer_id)
                           .order_by(Consent.at, Consent.id))
    return {row.channel: row for row in rows}


@dataclass(frozen=True)
class Reach:
    """Whose customers a person may see: all, a region's stores', or one store's."""

    region_id: int | None = None
    store_id: int | None = None

    @classmethod
    def of(cls, user: User) -> Reach:
        if user.role == "regional_manager":
            return cls(region_id=user.region_id)
        if user.role == "store_manager":
            return cls(store_id=user.store_id)
        return cls()

    def clause(self):
        if self.store_id is not None:
            return Customer.home_store_id == self.store_id
        if self.region_id is not None:
            return Customer.home_store_id.in_(select(Store.id).where(
                Store.region_id == self.region_id))
        return None


def reachable(session: Session, reach: Reach, customer_id: uuid.UUID) -> Customer:
    stmt = select(Customer).where(Customer.id == customer_id)
    if reach.clause() is not None:
        stmt = stmt.where(reach.clause())
    customer = session.scalars(stmt).first()
    if customer is None:
        raise NotFound("No such customer.", code="customer_not_found")
    return customer


def search(session: Session, reach: Reach, q: str, limit: int = 50) -> list[Customer]:
    """By card number, phone, e-mail or part of the name."""
    q = q.strip()
    conditions = [func.lower(Customer.name).like(f"%{q.lower()}%")]
    if q.isdigit() and len(q) == 16:
        conditions.append(Customer.card_number == q)
    try:
        if (phone := normal_phone(q)) is not None:
            conditions.append(Customer.phone == phone)
    except Invalid:
        pass
    if "@" in q:
        conditions.append(Customer.email == q.lower())
    stmt = select(Customer).where(or_(*conditions)).order_by(Customer.name).limit(limit)
    if reach.clause() is not None:
        stmt = stmt.where(reach.clause())
    return list(session.scalars(stmt))


HISTORY = 50


def profile(session: Session, customer: Customer) -> dict:
    """Everything about one customer: who they are, consents, cards, points, purchases and
    returns in every store, contacts on every channel, and one timeline of it all."""
    store_codes = dict(session.execute(select(Store.id, Store.code)).all())
    account = session.scalars(select(LoyaltyAccount).where(
        LoyaltyAccount.customer_id == customer.id)).first()
    sales = list(session.execute(
        select(Sale.id, Sale.receipt_no, Sale.store_id, Sale.sold_at, Sale.total_minor,
               Sale.status, Sale.points_burned)
        .where(Sale.customer_id == customer.id).order_by(Sale.sold_at.desc()).limit(HISTORY)))
    totals = session.execute(select(func.count(), func.coalesce(func.sum(Sale.total_minor), 0))
                             .where(Sale.customer_id == customer.id,
                                    Sale.status == "completed")).one()
    returns = list(session.execute(
        select(Return.return_no, Return.store_id, Return.returned_at, Return.total_minor,
               Return.original_receipt_no)
        .join(Sale, Sale.id == Return.original_sale_id)
        .where(Sale.customer_id == customer.id)
        .order_by(Return.returned_at.desc()).limit(HISTORY)))
    contacts = list(session.scalars(select(Interaction).where(
        Interaction.customer_id == customer.id).order_by(Interaction.at.desc()).limit(100)))
    history = list(session.scalars(select(Consent).where(Consent.customer_id == customer.id)
                                   .order_by(Consent.at.desc(), Consent.id.desc())))
    in_force = consents(session, customer.id)
    cards = list(session.scalars(select(Card).where(Card.account_id == account.id)
                                 .order_by(Card.issued_at))) if account else []
    ledger = list(session.scalars(select(LoyaltyEntry).where(
        LoyaltyEntry.account_id == account.id).order_by(LoyaltyEntry.at.desc())
        .limit(HISTORY))) if account else []
    timeline = sorted(
        [{"at": s.sold_at, "kind": "purchase", "store_code": store_codes.get(s.store_id),
          "summary": f"receipt {s.receipt_no}", "amount_minor": s.total_minor} for s in sales]
        + [{"at": r.returned_at, "kind": "return", "store_code": store_codes.get(r.store_id),
            "summary": f"return {r.return_no} of {r.original_receipt_no}",
            "amount_minor": -r.total_minor} for r in returns]
        + [{"at": i.at, "kind": i.channel, "store_code": store_codes.get(i.store_id),
            "summary": f"{'from' if i.direction == 'in' else 'to'} customer: {i.subject}",
            "amount_minor": None} for i in contacts],
        key=lambda e: e["at"], reverse=True)[:100]
    return {
        "id": customer.id, "name": customer.name, "phone": customer.phone,
        "email": customer.email, "birthday": customer.birthday, "status": customer.status,
        "home_store_code": store_codes.get(customer.home_store_id),
        "created_at": customer.created_at, "blocked": customer.blocked_at is not None,
        "lead_source": customer.lead_source,
        "consents": [{"channel": c, "granted": in_force[c].granted if c in in_force else False,
                      "at": in_force[c].at if c in in_force else None,
                      "source": in_force[c].source if c in in_force else None}
                     for c in CONSENT_CHANNELS],
        "consent_history": [{"channel": h.channel, "granted": h.granted, "at": h.at,
                             "source": h.source} for h in history],
        "cards": [{"card_number": c.card_number, "status": c.status,
                   "expires_on": c.expires_on, "blocked_at": c.blocked_at} for c in cards],
        "loyalty": None if account is None else {
            "tier": account.tier, "balance": account.balance, "held": account.held,
            "expiring": account.expiring or [],
            "entries": [{"at": e.at, "kind": e.kind, "points": e.points, "cause": e.cause}
                        for e in ledger]},
        "purchases": {"count": totals[0], "total_minor": int(totals[1]), "recent": [
            {"receipt_no": s.receipt_no, "store_code": store_codes.get(s.store_id),
             "sold_at": s.sold_at, "total_minor": s.total_minor, "status": s.status,
             "points_burned": s.points_burned} for s in sales]},
        "returns": [{"return_no": r.return_no, "store_code": store_codes.get(r.store_id),
                     "returned_at": r.returned_at, "total_minor": r.total_minor,
                     "original_receipt_no": r.original_receipt_no} for r in returns],
        "interactions": [{"id": i.id, "at": i.at, "channel": i.channel,
                          "direction": i.direction, "subject": i.subject, "body": i.body,
                          "store_code": store_codes.get(i.store_id)} for i in contacts],
        "timeline": timeline,
    }

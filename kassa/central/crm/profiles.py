"""The CRM side of central: finding a customer by what a channel knows (card, phone, e-mail),
leads, contacts on every channel, consents with their history, and the customer 360 view.

Phones and e-mails are stored normalised so that a call's caller id, a web form's field and a
till's entry find the same person. Sales stay where they are (``sales``); the 360 view and its
timeline read them beside the interactions.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from babel.numbers import format_decimal
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from kassa.central.access import audit
from kassa.central.catalog.product_imports import CHAIN_STANDING
from kassa.central.membership import cards, personal_offers
from kassa.central.models import (
    Card,
    CompanyDetails,
    Consent,
    Customer,
    CustomerDocument,
    CustomerScore,
    HistoricTransaction,
    Interaction,
    LoyaltyAccount,
    LoyaltyEntry,
    Offer,
    OfferExposure,
    Price,
    Product,
    RedemptionHold,
    Return,
    Sale,
    SaleLine,
    Store,
    Task,
    TaskComment,
    User,
)
from kassa.central.replication.feed import customer_scope, record_change
from kassa.central.replication.feed_documents import customer_doc
from kassa.common import i18n
from kassa.common.db import utcnow
from kassa.common.errors import Conflict, Invalid, NotFound
from kassa.common.money import format_minor, vat_included
from kassa.common.pdfdocs import render_pdf

CHANNELS = ("call", "email", "web_form", "chat", "social", "event", "meeting", "sms", "letter",
            "complaint")
# "offers": personal offers at the till, made from the customer's purchases (profiling).
CONSENT_CHANNELS = ("sms", "email", "phone", "offers")
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
        raise Invalid("%(text)s is not a phone number.", code="bad_phone", text=repr(text))
    return "+" + digits


def normal_email(text: str | None) -> str | None:
    if not text or not text.strip():
        return None
    email = text.strip().lower()
    if not _EMAIL.match(email) or len(email) > 200:
        raise Invalid("%(text)s is not an e-mail address.", code="bad_email", text=repr(text))
    return email


def find(session: Session, *, card_number: str | None = None, phone: str | None = None,
         email: str | None = None) -> Customer | None:
    """The customer a channel points at: by card first, then phone, then e-mail (the oldest
    record when several share a phone: duplicates are merged elsewhere)."""
    if card_number:
        found = session.scalars(select(Customer).where(
            Customer.card_number == card_number, Customer.merged_into_id.is_(None))).first()
        if found is not None:
            return found
    for column, value in ((Customer.phone, normal_phone(phone)),
                          (Customer.email, normal_email(email))):
        if value:
            found = session.scalars(select(Customer).where(
                column == value, Customer.merged_into_id.is_(None))
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


def by_external_id(session: Session, external_id: str) -> Interaction | None:
    return session.scalars(select(Interaction).where(
        Interaction.external_id == external_id)).first()


def record_interaction(session: Session, customer: Customer, *, channel: str,
                       direction: str, subject: str, body: str = "", at: datetime | None = None,
                       store_id: int | None = None, user_id: int | None = None,
                       external_id: str | None = None,
                       source: dict | None = None) -> tuple[Interaction, bool]:
    """Add one contact to the customer's timeline; with ``external_id`` a repeat is the same
    interaction (returned with ``False``)."""
    if channel not in CHANNELS:
        raise Invalid("Unknown channel %(channel)s.", code="bad_channel", channel=repr(channel))
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
        raise Invalid("Unknown consent channel %(channel)s.", code="bad_channel",
                      channel=repr(channel))
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
    if channel == "offers":
        personal_offers.publish_profiles(session, [customer.id])
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


def reachable(session: Session, reach: Reach, customer_id: uuid.UUID, *,
              writable: bool = False) -> Customer:
    """The customer if the reader may reach them (else 404, as if they did not exist). With
    ``writable`` the row is locked and a merged or anonymized record refused (409): it is a
    pointer or a shell now, and writing to it would bring it back to the tills."""
    stmt = select(Customer).where(Customer.id == customer_id)
    if reach.clause() is not None:
        stmt = stmt.where(reach.clause())
    customer = session.scalars(stmt.with_for_update() if writable else stmt).first()
    if customer is None:
        raise NotFound("No such customer.", code="customer_not_found")
    if writable and customer.merged_into_id is not None:
        raise Conflict("This record was merged into another.", code="customer_merged",
                       details={"merged_into": str(customer.merged_into_id)})
    if writable and customer.anonymized_at is not None:
        raise Conflict("This customer was anonymized.", code="customer_anonymized")
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
    stmt = (select(Customer).where(or_(*conditions), Customer.merged_into_id.is_(None))
            .order_by(Customer.name).limit(limit))
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
    score = session.get(CustomerScore, customer.id)
    exposures = session.execute(
        select(OfferExposure.at, OfferExposure.offer_id, Product.name, OfferExposure.held_out,
               OfferExposure.accepted, OfferExposure.store_id)
        .join(Offer, Offer.id == OfferExposure.offer_id)
        .join(Product, Product.id == Offer.product_id)
        .where(OfferExposure.customer_id == customer.id)
        .order_by(OfferExposure.at.desc()).limit(HISTORY)).all()
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
        # What the analytic jobs said, and the offers the tills made (or held back: hold-out).
        "scores": None if score is None else {
            "segment": score.segment, "r": score.r, "f": score.f, "m": score.m,
            "p_alive": score.p_alive, "expected_purchases_90d": score.expected_purchases_90d,
            "value_12m_minor": score.value_12m_minor, "scored_at": score.scored_at},
        "offers": [{"at": at, "offer_id": oid, "product": name, "held_out": held,
                    "accepted": accepted, "store_code": store_codes.get(store)}
                   for at, oid, name, held, accepted, store in exposures],
    }


# --- Customers' data rights ------------------------------------------------------------------

def export_all(session: Session, customer: Customer) -> dict:
    """Everything kassa holds about one customer, for their data-access request: the 360 view
    with every purchase (with its lines), return, ledger entry, consent change and contact."""
    view = profile(session, customer)
    sale_ids = list(session.scalars(select(Sale.id).where(Sale.customer_id == customer.id)))
    lines: dict = {}
    for line in session.scalars(select(SaleLine).where(SaleLine.sale_id.in_(sale_ids))
                                .order_by(SaleLine.sale_id, SaleLine.line_no)):
        lines.setdefault(line.sale_id, []).append(
            {"sku": line.sku, "name": line.name, "quantity_milli": line.quantity_milli,
             "amount_minor": line.amount_minor, "points_earned": line.points_earned})
    sales = session.execute(select(Sale.id, Sale.receipt_no, Sale.sold_at, Sale.total_minor,
                                   Sale.status).where(Sale.id.in_(sale_ids))
                            .order_by(Sale.sold_at)).all()
    account = session.scalars(select(LoyaltyAccount).where(
        LoyaltyAccount.customer_id == customer.id)).first()
    entries = list(session.scalars(select(LoyaltyEntry).where(
        LoyaltyEntry.account_id == account.id).order_by(LoyaltyEntry.at))) if account else []
    contacts = list(session.scalars(select(Interaction).where(
        Interaction.customer_id == customer.id).order_by(Interaction.at)))
    return {**view,
            "purchases": {**view["purchases"], "all": [
                {"receipt_no": s.receipt_no, "sold_at": s.sold_at, "total_minor": s.total_minor,
                 "status": s.status, "lines": lines.get(s.id, [])} for s in sales]},
            "loyalty_entries": [{"at": e.at, "kind": e.kind, "points": e.points,
                                 "cause": e.cause, "expires_at": e.expires_at}
                                for e in entries],
            "interactions": [{"at": i.at, "channel": i.channel, "direction": i.direction,
                              "subject": i.subject, "body": i.body} for i in contacts]}


ANONYMOUS = "(anonymized)"


def anonymize(session: Session, customer: Customer, reason: str, user: User) -> Customer:
    """Erase who the customer is while keeping what they bought: name, phone, e-mail,
    birthday, lead source and the text of their contacts go; sales, returns and points stay
    (on the same anonymous record), so totals and reports do not change. Their cards are
    blocked; the tills get the anonymous record at their next pull."""
    if customer.anonymized_at is not None:
        return customer
    # Records merged into this one are the same person: erased with it.
    for twin in session.scalars(select(Customer).where(Customer.merged_into_id == customer.id)):
        _erase(session, twin)
    _block_cards(session, customer, "erased", user)
    _erase(session, customer)
    session.flush()
    _publish_customer(session, customer)
    personal_offers.publish_profiles(session, [customer.id])  # no personal offers for nobody
    audit.record(session, "customer_anonymized", f"customer {customer.id}", actor_id=user.id,
                 reason=reason)
    return customer


def _erase(session: Session, customer: Customer) -> None:
    """Who they are goes; what they did stays (anonymous)."""
    customer.name, customer.phone, customer.email = ANONYMOUS, None, None
    customer.birthday, customer.lead_source, customer.card_number = None, None, None
    customer.address, customer.block_reason = None, None
    customer.card_has_pin, customer.anonymized_at = False, utcnow()
    session.execute(Interaction.__table__.update()
                    .where(Interaction.__table__.c.customer_id == customer.id)
                    .values(subject=ANONYMOUS, body="", source=None))
    their_tasks = select(Task.id).where(Task.customer_id == customer.id)
    session.execute(TaskComment.__table__.update()
                    .where(TaskComment.__table__.c.task_id.in_(their_tasks))
                    .values(text=ANONYMOUS))


def _block_cards(session: Session, customer: Customer, reason: str, user: User) -> None:
    """Block every live card of the customer (``erased``, ``merged``): their account's cards,
    and a number from before kassa issued cards (no card row) through the feed alone."""
    account = session.scalars(select(LoyaltyAccount).where(
        LoyaltyAccount.customer_id == customer.id)).first()
    numbers = list(session.scalars(select(Card.card_number).where(
        Card.account_id == account.id, Card.status.in_(("issued", "active"))))) \
        if account else []
    for number in numbers:
        cards.block(session, number, reason, user.id)
    legacy = customer.card_number
    if legacy and legacy not in numbers and session.get(Card, legacy) is None:
        now = utcnow()
        record_change(session, "card_block", legacy, {
            "card_number": legacy, "reason": reason, "blocked_at": now.isoformat()})
        audit.record(session, "card_block", f"card {legacy}", reason=reason,
                     actor_id=user.id, at=now)


def _publish_customer(session: Session, customer: Customer) -> None:
    record_change(session, "customer", customer.id, customer_doc(customer),
                  **customer_scope(session, customer))


# --- Duplicates ------------------------------------------------------------------------------

def name_key(name: str) -> str:
    """"Petrova  Anna" and "anna petrova" are the same name; ё is е."""
    return " ".join(sorted(name.lower().replace("ё", "е").split()))


def duplicates(session: Session, reach: Reach, limit: int = 100) -> list[dict]:
    """Groups of records that are likely one person: the same phone, the same e-mail, or the
    same name (words in any order) with the same birthday or home store."""
    live = [Customer.merged_into_id.is_(None), Customer.anonymized_at.is_(None)]
    if reach.clause() is not None:
        live.append(reach.clause())
    groups: dict[tuple, set] = {}
    for column, why in ((Customer.phone, "phone"), (Customer.email, "email")):
        shared = (select(column).where(column.is_not(None), *live).group_by(column)
                  .having(func.count() > 1).limit(limit))
        for value, cid in session.execute(select(column, Customer.id).where(
                column.in_(shared), *live)):
            groups.setdefault((why, value), set()).add(cid)
    by_name: dict[tuple, set] = {}
    for cid, name, birthday, store in session.execute(select(
            Customer.id, Customer.name, Customer.birthday, Customer.home_store_id).where(*live)):
        key = name_key(name)
        for other in (birthday, store):
            if other is not None:
                by_name.setdefault((key, other), set()).add(cid)
    groups.update({("name", key): ids for (key, _other), ids in by_name.items()
                   if len(ids) > 1})
    seen, out = set(), []
    for (why, value), ids in sorted(groups.items(), key=lambda g: (g[0][0], str(g[0][1]))):
        members = frozenset(ids)
        if members in seen:
            continue
        seen.add(members)
        rows = session.scalars(select(Customer).where(Customer.id.in_(members))
                               .order_by(Customer.created_at)).all()
        out.append({"reason": why, "value": str(value), "customers": rows})
        if len(out) >= limit:
            break
    return out


def merge(session: Session, keep: Customer, other: Customer, user: User) -> Customer:
    """Make ``other`` part of ``keep``: its purchases, contacts, consents, points and cards
    move over, fields ``keep`` lacks are filled from it, and it stays as a pointer to ``keep``
    (``merged_into_id``), gone from the tills (a tombstone in the feed). Cards of the merged
    record keep working when ``keep`` has none; otherwise they are blocked (``merged``) and the
    customer uses ``keep``'s."""
    from kassa.central.membership import loyalty_accounts

    if keep.id == other.id:
        raise Invalid("Merge two different customers.", code="bad_merge")
    # Both records and both accounts locked, in id order (two merges of the same pair in
    # opposite directions wait for each other instead of both passing the checks).
    for row in sorted((keep, other), key=lambda c: str(c.id)):
        session.refresh(row, with_for_update=True)
    if other.merged_into_id is not None or keep.merged_into_id is not None \
            or keep.anonymized_at is not None or other.anonymized_at is not None:
        raise Conflict("Merge two live records (neither merged nor anonymized).",
                       code="bad_merge")
    before = {"keep": _brief(keep), "other": _brief(other)}
    for table in (Sale.__table__, Interaction.__table__, Consent.__table__, Task.__table__,
                  CustomerDocument.__table__, HistoricTransaction.__table__,
                  OfferExposure.__table__):
        session.execute(table.update().where(table.c.customer_id == other.id)
                        .values(customer_id=keep.id))
    accounts = {a.customer_id: a for a in session.scalars(
        select(LoyaltyAccount).where(LoyaltyAccount.customer_id.in_((keep.id, other.id)))
        .order_by(LoyaltyAccount.id).with_for_update())}
    keep_account, other_account = accounts.get(keep.id), accounts.get(other.id)
    if other_account is not None:
        if keep_account is None:
            other_account.customer_id = keep.id
            keep_account = other_account
        else:
            if keep.card_number:
                _block_cards(session, other, "merged", user)
            for table in (LoyaltyEntry.__table__, Card.__table__,
                          RedemptionHold.__table__):
                session.execute(table.update().where(table.c.account_id == other_account.id)
                                .values(account_id=keep_account.id))
            session.execute(update(LoyaltyAccount).where(
                LoyaltyAccount.id == keep_account.id).values(
                balance=LoyaltyAccount.balance + other_account.balance,
                held=LoyaltyAccount.held + other_account.held))
            session.flush()
            session.execute(Sale.__table__.update().where(
                Sale.__table__.c.account_id == other_account.id).values(
                account_id=keep_account.id))
            session.delete(other_account)
            record_change(session, "loyalty_account", other_account.id, None)
        loyalty_accounts.mark_changed(session, keep_account.id)
    for field in ("phone", "email", "birthday", "card_number", "home_store_id"):
        if getattr(keep, field) is None and getattr(other, field) is not None:
            value = getattr(other, field)
            setattr(other, field, None)
            session.flush()  # a unique card number moves, it is not copied
            setattr(keep, field, value)
            if field == "card_number":
                keep.card_has_pin = other.card_has_pin
    if keep.status == "lead" and (other.status == "customer"):
        keep.status = "customer"
    other.merged_into_id, other.card_number = keep.id, None
    session.flush()
    _publish_customer(session, keep)
    record_change(session, "customer", other.id, None, **customer_scope(session, other))
    # the consents moved with the merge
    personal_offers.publish_profiles(session, [keep.id, other.id])
    audit.record(session, "customer_merged", f"customer {other.id} into {keep.id}",
                 actor_id=user.id, details={**before, "after": _brief(keep)})
    return keep


def _brief(c: Customer) -> dict:
    """For the audit log, which is never erased: ids and states, no personal data."""
    return {"id": str(c.id), "card_number": c.card_number, "status": c.status}


# --- Quotes and invoices -----------------------------------------------------------------------

DOCUMENT_TITLES = {"quote": "Quote", "invoice": "Invoice"}


COMPANY_FIELDS = ("name", "inn", "kpp", "address", "bank", "bic", "account")


def company(session: Session) -> dict:
    """The seller on quotes and invoices (master data, ``PUT /api/v1/company``)."""
    row = session.get(CompanyDetails, 1)
    if row is None:
        raise Conflict("The company's details (name, INN, bank account...) are not set: "
                       "central office sets them before quotes and invoices are issued.",
                       code="company_details_missing")
    return {f: getattr(row, f) for f in COMPANY_FIELDS}


def make_document(session: Session, customer: Customer, kind: str,
                  lines: list[tuple[str, int]], user: User,
                  valid_days: int = 14) -> tuple[CustomerDocument, bytes]:
    """A quote or invoice for ``lines`` (``[(sku, quantity)]``) at the chain's standing prices,
    numbered, kept, on the customer's timeline, and its PDF (``doc_templates``): in the language
    and currency of the store it comes from (the issuer's, else the customer's home store), else
    in the request's language and the default currency."""
    if kind not in DOCUMENT_TITLES:
        raise Invalid("Unknown document %(kind)s.", code="bad_document", kind=repr(kind))
    skus = [sku for sku, _q in lines]
    found = {p.sku: p for p in session.scalars(select(Product).where(Product.sku.in_(skus)))}
    missing = sorted(set(skus) - set(found))
    if missing:
        raise NotFound("No product %(skus)s.", code="product_not_found",
                       skus=", ".join(missing[:5]))
    prices = dict(session.execute(select(Price.product_id, Price.amount_minor).where(
        Price.product_id.in_([p.id for p in found.values()]), *CHAIN_STANDING)).all())
    items, vat = [], {}
    for sku, quantity in lines:
        product = found[sku]
        if product.id not in prices:
            raise Invalid("%(sku)s has no chain-wide price.", code="no_price", sku=sku)
        amount = prices[product.id] * quantity
        items.append({"sku": sku, "name": product.name, "quantity": quantity,
                      "unit_price_minor": prices[product.id], "amount_minor": amount,
                      "vat_rate_bp": product.vat_rate_bp})
        vat[product.vat_rate_bp] = vat.get(product.vat_rate_bp, 0) + vat_included(
            amount, product.vat_rate_bp)
    row = CustomerDocument(kind=kind, customer_id=customer.id, items=items,
                           total_minor=sum(i["amount_minor"] for i in items),
                           issued_at=utcnow(), issued_by_id=user.id)
    session.add(row)
    session.flush()
    number = f"{kind[0].upper()}-{row.id:06d}"
    issued = row.issued_at.date()
    store_id = user.store_id or customer.home_store_id
    store = session.get(Store, store_id) if store_id is not None else None
    locale = store.locale if store else i18n.current_locale()
    currency = store.currency if store else i18n.DEFAULT_CURRENCY
    _ = i18n.translations(locale).gettext
    title = _("Invoice %(number)s") if kind == "invoice" else _("Quote %(number)s")
    document = render_pdf(
        "customer_document.html", title=title % {"number": number},
        locale=locale, currency=currency, kind=kind,
        percent=lambda bp: format_decimal(Decimal(bp) / 100, format="#,##0.##", locale=locale),
        number=number, issued_on=issued,
        valid_until=issued + timedelta(days=valid_days) if kind == "quote" else None,
        company=company(session), customer=customer, items=items, total_minor=row.total_minor,
        vat_by_rate=sorted(vat.items()))
    record_interaction(session, customer, channel="letter", direction="out",
                       subject=f"{DOCUMENT_TITLES[kind]} {number}: "
                               f"{format_minor(row.total_minor)}",
                       user_id=user.id, external_id=f"document:{number}")
    return row, document


def update_profile(session: Session, customer: Customer, fields: dict, user: User) -> Customer:
    """Central's edit of a customer's details (central wins over tills' edits), normalised,
    audited with before and after, and in the feed."""
    if "phone" in fields:
        fields["phone"] = normal_phone(fields["phone"])
    if "email" in fields:
        fields["email"] = normal_email(fields["email"])
    before = {k: getattr(customer, k) for k in fields}
    for name, value in fields.items():
        setattr(customer, name, value)
    session.flush()
    after = {k: getattr(customer, k) for k in fields}
    changed = sorted(k for k in fields if before[k] != after[k])
    if changed:
        _publish_customer(session, customer)
        # Which fields, not their values: the audit log is never erased, a customer may be.
        audit.change(session, user.id, "customer", customer.id, {"fields": changed},
                     {"fields": changed})
    return customer


# --- Contacts in bulk ------------------------------------------------------------------------

IMPORT_COLUMNS = ("channel", "direction", "subject", "body", "at", "card_number", "phone",
                  "email", "lead_name", "external_id")


@dataclass
class ImportReport:
    created: int = 0
    repeated: int = 0
    leads: int = 0
    skipped: int = 0
    written: bool = False
    errors: list = None

    def error(self, line: int, column: str, message: str) -> None:
        if len(self.errors) < 1000:
            self.errors.append({"line": line, "sku": "", "field": column, "message": message})


def import_interactions(session: Session, text: str, user: User, reach: Reach, *,
                        skip_bad: bool = False) -> ImportReport:
    """Contacts from another system as CSV (``IMPORT_COLUMNS``; ``at`` ISO with its zone, a
    customer matched by card, phone or e-mail, else a lead named ``lead_name``). Checked whole
    first: all or nothing, or the good rows and a report of the bad (``skip_bad``)."""
    report = ImportReport(errors=[])
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("channel", "subject", "at") if c not in (reader.fieldnames or [])]
    if missing:
        report.error(1, ",".join(missing), "the header lacks these columns")
        return report
    good = []
    for line, raw in enumerate(reader, start=2):
        before = len(report.errors)
        row = {k: (raw.get(k) or "").strip() for k in IMPORT_COLUMNS}
        if row["channel"] not in CHANNELS:
            report.error(line, "channel", f"one of {', '.join(CHANNELS)}")
        if row["direction"] not in ("", "in", "out"):
            report.error(line, "direction", "in or out")
        if not 1 <= len(row["subject"]) <= 200:
            report.error(line, "subject", "1 to 200 characters")
        try:
            at = datetime.fromisoformat(row["at"])
            if at.tzinfo is None:
                raise ValueError
        except ValueError:
            report.error(line, "at", "a time with its zone, like 2026-11-20T10:15:00+03:00")
        try:
            match = {"card_number": row["card_number"] or None,
                     "phone": normal_phone(row["phone"]), "email": normal_email(row["email"])}
        except Invalid as err:
            report.error(line, err.code.removeprefix("bad_"), str(err))
            match = {}
        if match and not any(match.values()):
            report.error(line, "phone", "a card number, phone or e-mail to find the customer")
        if len(report.errors) == before:
            good.append((line, row, at, match))
    report.skipped = len({e["line"] for e in report.errors})
    if report.errors and not skip_bad:
        return report
    for line, row, at, match in good:
        customer = find(session, **match)
        if customer is not None and reach.clause() is not None:
            try:
                customer = reachable(session, reach, customer.id)
            except NotFound:
                report.error(line, "phone", "the customer is out of your reach")
                report.skipped += 1
                continue
        if customer is None:
            customer = new_lead(session, row["lead_name"] or "(no name)",
                                phone=match["phone"], email=match["email"],
                                source={"channel": row["channel"], "imported": True})
            report.leads += 1
        _row, new = record_interaction(
            session, customer, channel=row["channel"], direction=row["direction"] or "in",
            subject=row["subject"], body=row["body"], at=at, user_id=user.id,
            external_id=row["external_id"] or None)
        report.created += new
        report.repeated += not new
    if report.errors and not skip_bad:  # out-of-reach rows found while writing
        raise Invalid("Some rows are out of your reach; nothing was written.",
                      code="rows_out_of_reach", details={"errors": report.errors})
    report.written = True
    audit.record(session, "masterdata_import",
                 f"contacts: {report.created} new, {report.leads} leads",
                 reason=f"{report.skipped} rows skipped" if report.skipped else "",
                 actor_id=user.id)
    return report


def create_customer(session: Session, name: str, card_number: str | None = None,
                    phone: str | None = None, email: str | None = None,
                    home_store: Store | None = None) -> Customer:
    customer = Customer(name=name, card_number=card_number, phone=phone, email=email,
                        home_store_id=home_store.id if home_store else None)
    session.add(customer)
    session.flush()
    record_change(session, "customer", customer.id, customer_doc(customer),
                  **customer_scope(session, customer))
    return customer


def update_customer(session: Session, customer: Customer, **fields: str | None) -> Customer:
    """Central's own edit of a customer's contact fields (central wins over tills' edits)."""
    for name, value in fields.items():
        if name not in ("name", "phone", "email"):
            raise Invalid("Field %(field)s cannot be edited here.", code="bad_field",
                          field=repr(name))
        setattr(customer, name, value)
    session.flush()
    record_change(session, "customer", customer.id, customer_doc(customer),
                  **customer_scope(session, customer))
    return customer

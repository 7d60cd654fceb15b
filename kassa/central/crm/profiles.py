"""Customers' canonical profiles at central: creating and correcting them, finding one by what a
channel knows (card, phone, e-mail), who may reach whom, consents with their history, blocks,
and the customer 360 view.

Phones and e-mails are stored normalised so that a call's caller id, a web form's field and a
till's entry find the same person. Sales stay where they are (``sales``); the 360 view and its
timeline read them beside the interactions.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from kassa.central.access import audit
from kassa.central.membership import personal_offers, points
from kassa.central.models import (
    Card,
    Consent,
    Customer,
    CustomerScore,
    HistoricTransaction,
    Interaction,
    LoyaltyAccount,
    LoyaltyEntry,
    Offer,
    OfferExposure,
    Product,
    Return,
    Sale,
    Store,
    User,
)
from kassa.central.replication.feed import customer_scope, record_change
from kassa.central.replication.feed_documents import customer_doc
from kassa.common.db import utcnow
from kassa.common.errors import Conflict, Invalid, NotFound
from kassa.common.formats.contacts import CONSENT_CHANNELS, normal_email, normal_phone


def find(session: Session, *, card_number: str | None = None, phone: str | None = None,
         email: str | None = None, reach: Reach | None = None) -> Customer | None:
    """The customer a channel points at: by card first, then phone, then e-mail (the oldest
    record when several share a phone: duplicates are merged elsewhere). With ``reach``, among
    the customers the reader may reach only: one beyond it is as if nobody matched, so the
    answer never tells that such a customer exists."""
    within = reach.clause() if reach is not None else None
    live = Customer.merged_into_id.is_(None) if within is None else \
        Customer.merged_into_id.is_(None) & within
    if card_number:
        found = session.scalars(select(Customer).where(
            Customer.card_number == card_number, live)).first()
        if found is not None:
            return found
    for column, value in ((Customer.phone, normal_phone(phone)),
                          (Customer.email, normal_email(email))):
        if value:
            found = session.scalars(select(Customer).where(column == value, live)
                                    .order_by(Customer.created_at)).first()
            if found is not None:
                return found
    return None


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
    conditions: list[ColumnElement[bool]] = [func.lower(Customer.name).like(f"%{q.lower()}%")]
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


def profile(session: Session, customer: Customer, reach: Reach | None = None) -> dict:
    """Everything about one customer: who they are, consents, cards, points, purchases and
    returns in every store, contacts on every channel, and one timeline of it all; and the
    record in ``reach`` most likely to be the same person (to merge), if any."""
    # Keyed by int | None: rows without a store (a contact, a customer without a home store)
    # look up None and get None.
    store_codes: dict[int | None, str] = dict(session.execute(select(Store.id, Store.code)).all())
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
    imported, earlier = _imported_purchases(session, customer.id)
    timeline = sorted(
        [{"at": s.sold_at, "kind": "purchase", "store_code": store_codes.get(s.store_id),
          "summary": f"receipt {s.receipt_no}", "amount_minor": s.total_minor,
          "receipt_no": s.receipt_no} for s in sales]
        + [{"at": h.at, "kind": "imported", "store_code": store_codes.get(h.store_id),
            "summary": "imported purchase", "amount_minor": h.amount_minor} for h in earlier]
        + [{"at": r.returned_at, "kind": "return", "store_code": store_codes.get(r.store_id),
            "summary": f"return {r.return_no} of {r.original_receipt_no}",
            "amount_minor": -r.total_minor, "receipt_no": r.original_receipt_no}
           for r in returns]
        + [{"at": i.at, "kind": i.channel, "store_code": store_codes.get(i.store_id),
            "summary": f"{'from' if i.direction == 'in' else 'to'} customer: {i.subject}",
            "amount_minor": None} for i in contacts],
        key=lambda e: e["at"], reverse=True)[:100]
    return {
        "id": customer.id, "name": customer.name, "phone": customer.phone,
        "email": customer.email, "birthday": customer.birthday, "status": customer.status,
        "card_number": customer.card_number,
        "home_store_code": store_codes.get(customer.home_store_id),
        "created_at": customer.created_at, "blocked": customer.blocked_at is not None,
        "lead_source": customer.lead_source,
        "consents": [{"channel": c, "granted": in_force[c].granted if c in in_force else False,
                      "at": in_force[c].at if c in in_force else None,
                      "source": in_force[c].source if c in in_force else None}
                     for c in CONSENT_CHANNELS],
        "consent_history": [{"channel": h.channel, "granted": h.granted, "at": h.at,
                             "source": h.source} for h in history],
        "cards": [{"card_number": c.card_number, "status": c.status, "kind": c.kind,
                   "expires_on": c.expires_on, "blocked_at": c.blocked_at,
                   "block_reason": c.block_reason, "replaced_by": c.replaced_by}
                  for c in cards],
        "loyalty": None if account is None else {
            "tier": account.tier, "balance": account.balance, "held": account.held,
            "expiring": account.expiring or [],
            "entries": [{"at": e.at, "kind": e.kind, "points": e.points, "cause": e.cause}
                        for e in ledger],
            # The same, a line per purchase, return or adjustment, as people read it.
            "history": points.history(session, account.id)},
        # The tills' sales and the purchases imported from a previous system, each marked.
        "purchases": {
            "count": totals[0] + imported["count"],
            "total_minor": int(totals[1]) + imported["total_minor"], "imported": imported,
            "recent": sorted(
                [{"receipt_no": s.receipt_no, "store_code": store_codes.get(s.store_id),
                  "sold_at": s.sold_at, "total_minor": s.total_minor, "status": s.status,
                  "points_burned": s.points_burned, "imported": False} for s in sales]
                + [{"receipt_no": None, "store_code": store_codes.get(h.store_id),
                    "sold_at": h.at, "total_minor": h.amount_minor, "status": "completed",
                    "points_burned": 0, "imported": True} for h in earlier],
                key=lambda r: r["sold_at"], reverse=True)[:HISTORY]},
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
            "p_alive": score.p_alive, "expected_purchases": score.expected_purchases,
            "horizon_days": score.horizon_days,
            "value_12m_minor": score.value_12m_minor, "scored_at": score.scored_at},
        "offers": [{"at": at, "offer_id": oid, "product": name, "held_out": held,
                    "accepted": accepted, "store_code": store_codes.get(store)}
                   for at, oid, name, held, accepted, store in exposures],
        "likely_duplicate": _likely_duplicate_view(session, customer, reach or Reach()),
    }


def _imported_purchases(session: Session, customer_id: uuid.UUID) -> tuple[dict, list]:
    """What the customer bought before kassa, as imported (``reporting.history_import``):
    count, total and first and last day; and the newest rows."""
    h = HistoricTransaction
    count, total, first, last = session.execute(
        select(func.count(), func.coalesce(func.sum(h.amount_minor), 0), func.min(h.at),
               func.max(h.at)).where(h.customer_id == customer_id)).one()
    recent = list(session.execute(select(h.at, h.amount_minor, h.store_id).where(
        h.customer_id == customer_id).order_by(h.at.desc()).limit(HISTORY))) if count else []
    return {"count": count, "total_minor": int(total), "first_at": first,
            "last_at": last}, recent


def _likely_duplicate_view(session: Session, customer: Customer, reach: Reach) -> dict | None:
    if customer.merged_into_id is not None or customer.anonymized_at is not None:
        return None
    found = likely_duplicate(session, reach, name=customer.name, phone=customer.phone,
                             email=customer.email, birthday=customer.birthday,
                             home_store_id=customer.home_store_id, other_than=customer.id)
    if found is None:
        return None
    same = [f for f in ("phone", "email") if getattr(found, f) and
            getattr(found, f) == getattr(customer, f)] or ["name"]
    return {"id": found.id, "name": found.name, "status": found.status, "same": same}


# --- Customers' data rights ------------------------------------------------------------------


# --- Duplicates ------------------------------------------------------------------------------


# --- Quotes and invoices -----------------------------------------------------------------------


def name_key(name: str) -> str:
    """"Petrova  Anna" and "anna petrova" are the same name; ё is е."""
    return " ".join(sorted(name.lower().replace("ё", "е").split()))


def likely_duplicate(session: Session, reach: Reach, *, name: str, phone: str | None,
                     email: str | None, birthday: date | None, home_store_id: int | None,
                     other_than: uuid.UUID | None = None) -> Customer | None:
    """The live record in the reader's reach most likely to be this same person, by the rules
    of ``data_rights.duplicates``: the same phone or e-mail, or the same name (words in any
    order) with the same birthday or home store."""
    live: list[ColumnElement[bool]] = [Customer.merged_into_id.is_(None),
                                       Customer.anonymized_at.is_(None)]
    clause = reach.clause()
    if clause is not None:
        live.append(clause)
    if other_than is not None:
        live.append(Customer.id != other_than)
    for column, value in ((Customer.phone, phone), (Customer.email, email)):
        if value:
            found = session.scalars(select(Customer).where(column == value, *live)
                                    .order_by(Customer.created_at)).first()
            if found is not None:
                return found
    alike: list[ColumnElement[bool]] = []
    if birthday is not None:
        alike.append(Customer.birthday == birthday)
    if home_store_id is not None:
        alike.append(Customer.home_store_id == home_store_id)
    key = name_key(name)
    if not alike or not key:
        return None
    # Each word somewhere in the name, in SQL (е and ё either way), then the exact rule here.
    words = [func.lower(Customer.name).like("%" + re.sub("[её%_]", "_", w) + "%")
             for w in key.split()]
    for found in session.scalars(select(Customer).where(or_(*alike), *words, *live)
                                 .order_by(Customer.created_at)):
        if name_key(found.name) == key:
            return found
    return None


def _refuse_duplicate(found: Customer) -> None:
    raise Conflict("This looks like a customer kassa has already: open that record, or send "
                   "it again with force to keep both.", code="likely_duplicate",
                   details={"customer_id": str(found.id)})


def _home_store(session: Session, actor: User, code: str | None) -> Store | None:
    """The home store a person may give a customer: any (office), one of their region's
    (regional manager), their own (store manager: also when none is given)."""
    if code is None:
        if actor.role == "store_manager":
            return session.get(Store, actor.store_id)
        if actor.role == "regional_manager":
            raise Invalid("A customer a regional manager opens needs a home store of the "
                          "region.", code="home_store_required")
        return None
    store = session.scalars(select(Store).where(Store.code == code)).first()
    if store is None or (actor.role == "regional_manager"
                         and store.region_id != actor.region_id) or (
            actor.role == "store_manager" and store.id != actor.store_id):
        raise NotFound("No store %(store)s.", code="store_not_found", store=code)
    return store


def open_customer(session: Session, actor: User, *, name: str, phone: str | None = None,
                  email: str | None = None, birthday: date | None = None,
                  address: str | None = None, home_store_code: str | None = None,
                  consents: Sequence[dict] = (), force: bool = False) -> Customer:
    """A customer opened at central (the office's form, an integration): phone and e-mail
    normalised, a likely duplicate refused with its id unless ``force``, the consents given
    recorded with their source, audited (which fields, never their values), in the feed."""
    reach = Reach.of(actor)
    store = _home_store(session, actor, home_store_code)
    phone, email = normal_phone(phone), normal_email(email)
    if not force:
        found = likely_duplicate(session, reach, name=name, phone=phone, email=email,
                                 birthday=birthday, home_store_id=store.id if store else None)
        if found is not None:
            _refuse_duplicate(found)
    customer = create_customer(session, name.strip(), phone=phone, email=email,
                               home_store=store)
    customer.birthday, customer.address = birthday, address
    session.flush()
    publish_customer(session, customer)
    for consent in consents:
        set_consent(session, customer, consent["channel"], consent["granted"],
                    f"{consent['source']} ({actor.username})", actor)
    given = sorted(k for k, v in (("name", name), ("phone", phone), ("email", email),
                                  ("birthday", birthday), ("address", address),
                                  ("home_store", store)) if v)
    audit.change(session, actor.id, "customer", customer.id, None, {"fields": given})
    return customer


def update_profile(session: Session, customer: Customer, fields: dict, user: User) -> Customer:
    """Central's edit of a customer's details (central wins over tills' edits), normalised,
    audited with before and after, and in the feed. A new phone, e-mail or name that makes
    the record look like another is refused with the other's id unless ``force``; consents
    given with it are recorded with their source."""
    force = fields.pop("force", False)
    consents = fields.pop("consents", [])
    if "home_store_code" in fields:
        store = _home_store(session, user, fields.pop("home_store_code"))
        fields["home_store_id"] = store.id if store else None
    if "phone" in fields:
        fields["phone"] = normal_phone(fields["phone"])
    if "email" in fields:
        fields["email"] = normal_email(fields["email"])
    if not force and {"name", "phone", "email", "birthday", "home_store_id"} & set(fields):
        merged = {k: fields.get(k, getattr(customer, k))
                  for k in ("name", "phone", "email", "birthday", "home_store_id")}
        found = likely_duplicate(session, Reach.of(user), other_than=customer.id, **merged)
        if found is not None:
            _refuse_duplicate(found)
    for consent in consents:
        set_consent(session, customer, consent["channel"], consent["granted"],
                    f"{consent['source']} ({user.username})", user)
    before = {k: getattr(customer, k) for k in fields}
    for name, value in fields.items():
        setattr(customer, name, value)
    session.flush()
    after = {k: getattr(customer, k) for k in fields}
    changed = sorted(k for k in fields if before[k] != after[k])
    if changed:
        publish_customer(session, customer)
        # Which fields, not their values: the audit log is never erased, a customer may be.
        audit.change(session, user.id, "customer", customer.id, {"fields": changed},
                     {"fields": changed})
    return customer


# --- Contacts in bulk ------------------------------------------------------------------------


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


def set_block(session: Session, actor: User, customer_id: uuid.UUID,
              reason: str | None) -> Customer:
    """Block the customer (``reason``) or lift the block (``None``): from their next pull,
    tills ask central before selling to a blocked customer. Audited when it changes."""
    customer = reachable(session, Reach.of(actor), customer_id, writable=True)
    before = {"blocked": customer.blocked_at is not None, "reason": customer.block_reason}
    customer.blocked_at = utcnow() if reason else None
    customer.block_reason = reason
    session.flush()
    after = {"blocked": reason is not None, "reason": reason}
    if after != before:
        publish_customer(session, customer)
        audit.record(session, "customer_blocked" if reason else "customer_unblocked",
                     f"customer {customer.id}", actor_id=actor.id, reason=reason or "",
                     details={"before": before, "after": after})
    return customer


def publish_customer(session: Session, customer: Customer) -> None:
    """The customer's record to the tills that keep it (the change feed)."""
    record_change(session, "customer", customer.id, customer_doc(customer),
                  **customer_scope(session, customer))

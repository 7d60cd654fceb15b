"""The customer's own page at central: sign-in with card number and web PIN or with a
one-time code mailed to them, and what a signed-in customer may see and do (their points,
purchases, consents; report a lost card).

A customer is never a staff user: their session holds only their card and customer id, and
every query here is scoped to that customer. Wrong PINs are audited; ``MAX_FAILURES`` of them
for a card within ``LOCKOUT`` close that card's sign-in for the rest of the window. A mailed
code is good once, for ``CODE_TTL``, and dies after ``CODE_TRIES`` wrong guesses; at most
``CODES_PER_WINDOW`` are mailed to a customer within ``LOCKOUT``.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta

from flask_babel import gettext
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kassa.central.access import audit
from kassa.central.crm import interactions, profiles, tasks
from kassa.central.membership import cards, loyalty_accounts, personal_offers, points_history
from kassa.central.models import (
    AuditEntry,
    Card,
    Customer,
    CustomerScore,
    LoyaltyAccount,
    MailMessage,
    Offer,
    Product,
    Sale,
    SignInCode,
    Store,
)
from kassa.common.db import utcnow
from kassa.common.errors import Invalid, KassaError, NotFound
from kassa.common.formats.contacts import normal_email
from kassa.common.passwords import hash_secret, verify_secret

MAX_FAILURES = 5  # wrong PINs per card within LOCKOUT before its web sign-in closes
LOCKOUT = timedelta(minutes=15)
PAGE = 20
OFFERS_SHOWN = 10
CODE_TTL = timedelta(minutes=10)
CODE_TRIES = 5
CODES_PER_WINDOW = 3


def check_web_pin(pin: str) -> None:
    """A web PIN is 4-8 digits (``bad_pin``), whoever sets it: the office or the customer."""
    if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 8):
        raise Invalid("A web PIN is 4-8 digits.", code="bad_pin")


def set_web_pin(session: Session, number: str, pin: str, by: str = "office") -> None:
    """Give the card a PIN for the customer's web page (stored as an argon2 hash); the old
    PIN, if any, stops working. Audited with who set it (``by``), never with the PIN."""
    check_web_pin(pin)
    card = session.get(Card, number, with_for_update=True)
    if card is None:
        raise NotFound("No card %(number)s.", code="card_not_found", number=number)
    card.web_pin_hash = hash_secret(pin)
    audit.record(session, "me_web_pin_set", f"card {number}", reason=by)


def set_pin_with_code(session: Session, email: str, code: str, pin: str,
                      client: str) -> tuple[Customer, Card] | str:
    """The customer sets their own web PIN with the code mailed to them: the code is checked
    and spent as a sign-in with it is (``sign_in_with_code``: the same refusals, so the answer
    never tells whether the address is known), then the card it names gets the PIN. A PIN that
    breaks the rules is refused first, leaving the code unspent."""
    check_web_pin(pin)
    outcome = sign_in_with_code(session, email, code, client)
    if not isinstance(outcome, str):
        set_web_pin(session, outcome[1].card_number, pin, by="self-service, e-mailed code")
    return outcome


def sign_in(session: Session, number: str, pin: str, client: str) -> Customer | str:
    """The card's customer when the PIN is right, else why not (``card_locked`` or
    ``bad_credentials``); each attempt is audited. One argon2 check whatever the card (an
    unknown one, one without a web PIN, a locked one), so the time does not tell which cards
    exist. The caller commits before refusing, so that failures count."""
    now = utcnow()
    subject = f"card {number}"
    card = session.get(Card, number)
    customer = _owner(session, card) if card is not None else None
    usable = card is not None and card.status in ("issued", "active") and customer is not None
    right = verify_secret(card.web_pin_hash if card is not None and usable else None, pin)
    if _locked(session, subject, now, client):
        return "card_locked"
    if not right or customer is None:
        audit.record(session, "me_sign_in:wrong", subject, at=now, reason=client)
        return "bad_credentials"
    audit.record(session, "me_sign_in:ok", subject, at=now, reason=client)
    return customer


def mail_code(session: Session, email: str, client: str) -> bool:
    """Mail a one-time code to the customer with this address, when exactly one live
    customer with a usable card has it. Says whether a code went out, for the audit only: the
    answer to the customer must not tell which addresses are known."""
    address = normal_email(email)
    found = _by_email(session, address)
    code = f"{secrets.randbelow(10 ** 6):06d}"
    code_hash = hash_secret(code)  # made even when no code goes out: the same time either way
    if found is None:
        audit.record(session, "me_code:unknown", "e-mail", reason=client)
        return False
    customer, card = found
    now = utcnow()
    recent = session.scalar(select(func.count()).where(
        SignInCode.customer_id == customer.id, SignInCode.created_at > now - LOCKOUT))
    assert recent is not None  # count() always returns a row
    if recent >= CODES_PER_WINDOW:
        audit.record(session, "me_code:limited", f"card {card.card_number}", reason=client)
        return False
    session.add(SignInCode(customer_id=customer.id, code_hash=code_hash, created_at=now,
                           expires_at=now + CODE_TTL))
    minutes = int(CODE_TTL.total_seconds() // 60)
    session.add(MailMessage(
        to_address=address, subject=gettext("Your sign-in code: %(code)s", code=code),
        body=gettext("Your code to sign in to your loyalty page is %(code)s. It works once, "
                     "for %(minutes)s minutes. If you did not ask for it, ignore this mail.",
                     code=code, minutes=minutes), erase_after_send=True))
    audit.record(session, "me_code:sent", f"card {card.card_number}", reason=client)
    return True


def sign_in_with_code(session: Session, email: str, code: str,
                      client: str) -> tuple[Customer, Card] | str:
    """The customer and their card when the code is one mailed to them, unused and in time;
    else ``bad_credentials``, or ``card_locked`` after ``MAX_FAILURES`` wrong codes for the
    address within ``LOCKOUT``. An address nobody has is counted and locked the same way, and
    each attempt checks ``CODES_PER_WINDOW`` argon2 hashes (the live codes, then stand-ins):
    neither answer nor time tells which addresses are known. A wrong code counts against
    every code the customer holds."""
    now = utcnow()
    address = normal_email(email) or ""
    subject = f"e-mail {hashlib.sha256(address.encode()).hexdigest()[:24]}"
    found = _by_email(session, address)
    live = [] if found is None else list(session.scalars(select(SignInCode).where(
        SignInCode.customer_id == found[0].id, SignInCode.used_at.is_(None),
        SignInCode.expires_at > now, SignInCode.failures < CODE_TRIES)
        .order_by(SignInCode.id.desc()).limit(CODES_PER_WINDOW).with_for_update()))
    hashes = [c.code_hash for c in live] + [None] * (CODES_PER_WINDOW - len(live))
    matches = [verify_secret(h, code) for h in hashes]  # every one: the same work each time
    if _locked(session, subject, now, client):
        return "card_locked"
    match = next((c for c, ok in zip(live, matches, strict=False) if ok), None)
    if found is None or match is None:
        for c in live:
            c.failures += 1
        audit.record(session, "me_sign_in:wrong", subject, at=now, reason=client)
        return "bad_credentials"
    customer, card = found
    for c in live:  # one sign-in spends every code that was out
        c.used_at = now
    audit.record(session, "me_sign_in:ok", subject, at=now,
                 reason=f"{client[:100]} card {card.card_number}")
    return customer, card


def _locked(session: Session, subject: str, now, client: str) -> bool:
    """``MAX_FAILURES`` wrong PINs or codes for this card within ``LOCKOUT``."""
    failures = session.scalar(select(func.count()).where(
        AuditEntry.action == "me_sign_in:wrong", AuditEntry.subject == subject,
        AuditEntry.at > now - LOCKOUT))
    assert failures is not None  # count() always returns a row
    if failures >= MAX_FAILURES:
        audit.record(session, "me_sign_in:locked", subject, at=now, reason=client)
        return True
    return False


def _by_email(session: Session, address: str | None) -> tuple[Customer, Card] | None:
    """The one live customer with this address and a usable card (with the card)."""
    if not address:
        return None
    rows = session.execute(select(Customer, Card).join(
        LoyaltyAccount, LoyaltyAccount.customer_id == Customer.id).join(
        Card, Card.account_id == LoyaltyAccount.id).where(
        Customer.email == address, Customer.merged_into_id.is_(None),
        Customer.anonymized_at.is_(None), Card.status.in_(("issued", "active")))
        .order_by(Card.issued_at.desc())).all()
    if len({c.id for c, _ in rows}) != 1:
        return None  # nobody, or an address several customers share: a PIN is needed
    return rows[0][0], rows[0][1]


def _owner(session: Session, card: Card) -> Customer | None:
    customer = session.scalar(select(Customer).join(
        LoyaltyAccount, LoyaltyAccount.customer_id == Customer.id).where(
        LoyaltyAccount.id == card.account_id))
    if customer is None or customer.merged_into_id or customer.anonymized_at:
        return None
    return customer


def summary(session: Session, customer: Customer) -> dict:
    """Balance, tier and what the next tier needs, points expiring, cards, consents."""
    now = utcnow()
    account = session.scalars(select(LoyaltyAccount).where(
        LoyaltyAccount.customer_id == customer.id)).one()
    thresholds = loyalty_accounts.rules(session).tiers.thresholds
    spend = loyalty_accounts.rolling_spend(session, [customer.id], now).get(customer.id, 0)
    above = [(name, minimum) for name, minimum in thresholds
             if minimum > dict(thresholds).get(account.tier, 0)]
    in_force = profiles.consents(session, customer.id)
    return {
        "name": customer.name, "card_number": customer.card_number,
        "balance": account.balance - account.held, "tier": account.tier,
        "spend_12m_minor": int(spend),
        "next_tier": None if not above else {
            "tier": above[0][0], "spend_needed_minor": max(0, above[0][1] - int(spend))},
        "expiring": [{"on": day, "points": points}
                     for day, points in loyalty_accounts.expiring(session, account.id, now)],
        "cards": [{"card_number": c.card_number, "status": c.status}
                  for c in session.scalars(select(Card).where(Card.account_id == account.id)
                                           .order_by(Card.issued_at))],
        "consents": [{"channel": c, "granted": in_force[c].granted if c in in_force else False}
                     for c in profiles.CONSENT_CHANNELS],
    }


def purchases(session: Session, customer: Customer, page: int) -> dict:
    """The customer's purchases in every store, newest first, ``PAGE`` a page."""
    base = select(Sale.receipt_no, Store.code, Store.name, Sale.sold_at, Sale.total_minor,
                  Sale.status, Sale.points_burned).join(Store, Store.id == Sale.store_id) \
        .where(Sale.customer_id == customer.id)
    total = session.scalar(select(func.count()).where(Sale.customer_id == customer.id))
    assert total is not None  # count() always returns a row
    rows = session.execute(base.order_by(Sale.sold_at.desc(), Sale.receipt_no)
                           .offset((page - 1) * PAGE).limit(PAGE))
    return {"page": page, "pages": max(1, -(-total // PAGE)), "items": [
        {"receipt_no": r[0], "store_code": r[1], "store_name": r[2], "sold_at": r[3],
         "total_minor": r[4], "status": r[5], "points_burned": r[6]} for r in rows]}


def points(session: Session, customer: Customer, page: int) -> dict:
    """The customer's points, newest first: a row per purchase (its receipt, store, total,
    points earned and spent), per return and per expiry, not per receipt line."""
    account_id = session.scalar(select(LoyaltyAccount.id).where(
        LoyaltyAccount.customer_id == customer.id))
    if account_id is None:
        return {"page": page, "pages": 1, "items": []}
    return points_history.by_purchase(session, account_id, page, PAGE)


def offers_for(session: Session, customer: Customer) -> dict:
    """The offers a till would make this customer now: none without their consent to offers,
    none in the hold-out group (the offers' uplift is measured against it)."""
    if not personal_offers.consenting(session, [customer.id]).get(customer.id):
        return {"consented": False, "items": []}
    if personal_offers.held_out(customer.id, personal_offers.settings(session).holdout_bp):
        return {"consented": True, "items": []}
    segment = session.scalar(select(CustomerScore.segment).where(
        CustomerScore.customer_id == customer.id))
    rows = session.execute(select(Offer, Product.name).join(Product, Product.id ==
                                                            Offer.product_id)
                           .where(Offer.active.is_(True)).order_by(Offer.lift.desc(), Offer.id))
    items = [{"product": name, "discount_bp": offer.discount_bp, "kind": offer.kind}
             for offer, name in rows
             if offer.segments is None or segment in offer.segments][:OFFERS_SHOWN]
    return {"consented": True, "items": items}


def set_consent(session: Session, customer: Customer, channel: str, granted: bool) -> None:
    """The customer's own choice, through the same path as staff's (audit, feed)."""
    profiles.set_consent(session, customer, channel, granted, "self-service page")


def report_lost(session: Session, customer: Customer, number: str) -> Card:
    """Block the customer's own card at once and ask the office for a replacement."""
    card = session.get(Card, number)
    account_id = session.scalar(select(LoyaltyAccount.id).where(
        LoyaltyAccount.customer_id == customer.id))
    if card is None or card.account_id != account_id:
        raise KassaError("No card %(number)s.", code="card_not_found", status=404, number=number)
    card = cards.block(session, number, "lost")
    interactions.record_interaction(session, customer, channel="web_form", direction="in",
                                    subject="Lost card: replacement requested",
                                    body=f"Card {number} reported lost on the self-service page.",
                                    store_id=customer.home_store_id)
    tasks.open_task(session, "card_replacement", customer=customer,
                    store_id=customer.home_store_id, note=f"Card {number} was blocked.")
    return card


def customer(session: Session, customer_id: str) -> Customer | None:
    return session.get(Customer, uuid.UUID(customer_id))

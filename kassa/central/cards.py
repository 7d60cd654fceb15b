"""Card lifecycle at central: issue, activate, block, replace; and the issuer key.

Cards belong to a loyalty account, so a replacement card carries the balance and history over
by itself: the old card is blocked (reason ``replaced``) and the new one issued to the same
account. Every block goes into the change feed as a ``card_block`` entry for every node, so a
lost card stops working everywhere at the next pull. Issuer public keys go into the feed too
(``issuer_key``): tills check the card's certificate with them.

The issuer's private key is a file in ``key_dir`` (mode 0600), made on first use; central's
database holds only the public half.
"""

from __future__ import annotations

import os
import secrets
from datetime import date
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from sqlalchemy.orm import Session

from kassa.central import audit
from kassa.central.documents import customer_doc
from kassa.central.feed import customer_scope, record_change
from kassa.central.models import Card, Customer, IssuerKey, LoyaltyAccount
from kassa.common.db import utcnow
from kassa.common.errors import Conflict, Invalid, NotFound
from kassa.smartcard.applet import CardState
from kassa.smartcard.issuer import issue_card

BLOCK_REASONS = ("lost", "stolen", "damaged", "fraud", "replaced", "erased", "merged")
CARD_PREFIX = "777"
VALID_YEARS = 5


def issuer_key(session: Session, key_dir: Path) -> tuple[int, str]:
    """The active issuer key's id and private PEM; the first call makes key 1."""
    key = session.scalars(select(IssuerKey).where(IssuerKey.active.is_(True))
                          .order_by(IssuerKey.id.desc())).first()
    if key is not None:
        path = Path(key_dir) / f"issuer-{key.id}.pem"
        if not path.exists():
            raise Invalid(f"The private half of issuer key {key.id} is missing from {key_dir}.",
                          code="issuer_key_missing")
        return key.id, path.read_text()
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    Path(key_dir).mkdir(parents=True, exist_ok=True)
    path = Path(key_dir) / "issuer-1.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(pem)
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    session.add(IssuerKey(id=1, public_key_pem=public, active=True))
    session.flush()
    record_change(session, "issuer_key", 1, {"id": 1, "public_key_pem": public})
    return 1, pem


def _new_number(session: Session) -> str:
    while True:
        number = CARD_PREFIX + "".join(secrets.choice("0123456789") for _ in range(13))
        if session.get(Card, number) is None:
            return number


def issue(session: Session, account: LoyaltyAccount, key_dir: Path, *,
          pin: str | None = None, today: date | None = None) -> CardState:
    """A new card for ``account``: its row (status ``issued``) and its card file's state."""
    key_id, key_pem = issuer_key(session, key_dir)
    today = today or utcnow().date()
    expires = today.replace(year=today.year + VALID_YEARS)
    number = _new_number(session)
    state = issue_card(key_pem, key_id, number, expires, pin)
    session.add(Card(card_number=number, account_id=account.id, issuer_key_id=key_id,
                     status="issued", expires_on=expires, has_pin=pin is not None))
    # The newest card is the customer's card: tills find the customer by its number.
    customer = session.get(Customer, account.customer_id)
    customer.card_number, customer.card_has_pin = number, pin is not None
    session.flush()
    record_change(session, "customer", customer.id, customer_doc(customer),
                  **customer_scope(session, customer))
    return state


def _card(session: Session, number: str) -> Card:
    card = session.get(Card, number, with_for_update=True)
    if card is None:
        raise NotFound(f"No card {number}.", code="card_not_found")
    return card


def activate(session: Session, number: str) -> Card:
    card = _card(session, number)
    if card.status != "issued":
        raise Conflict(f"Card {number} is {card.status}.", code="card_not_issued")
    card.status, card.activated_at = "active", utcnow()
    session.flush()
    return card


def block(session: Session, number: str, reason: str, actor_id: int | None = None) -> Card:
    """Block a card now; every till refuses it from its next pull. The block is in the audit
    log with who did it (None: a command at central's console)."""
    if reason not in BLOCK_REASONS:
        raise Invalid(f"Say why: one of {', '.join(BLOCK_REASONS)}.", code="bad_block_reason")
    card = _card(session, number)
    if card.status in ("blocked", "replaced"):
        return card
    card.status = "replaced" if reason == "replaced" else "blocked"
    card.blocked_at, card.block_reason = utcnow(), reason
    session.flush()
    record_change(session, "card_block", number, {
        "card_number": number, "reason": reason, "blocked_at": card.blocked_at.isoformat()})
    audit.record(session, "card_block", f"card {number}", reason=reason, actor_id=actor_id,
                 at=card.blocked_at)
    return card


def replace(session: Session, number: str, key_dir: Path, *,
            pin: str | None = None) -> CardState:
    """A new card for the same account (balance and history stay with the account); the old
    one is blocked everywhere."""
    old = _card(session, number)
    if old.status == "replaced":
        raise Conflict(f"Card {number} was replaced by {old.replaced_by}.",
                       code="card_replaced")
    account = session.get(LoyaltyAccount, old.account_id)
    state = issue(session, account, key_dir, pin=pin)
    activate(session, state.card_number)
    block(session, number, "replaced")
    old.replaced_by = state.card_number
    session.flush()
    return state

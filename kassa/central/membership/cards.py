"""Card lifecycle at central: issue, activate, block, replace; and the issuer key.

Cards belong to a loyalty account, so a replacement card carries the balance and history over
by itself: the old card is blocked (reason ``replaced``) and the new one issued to the same
account. Every block goes into the change feed as a ``card_block`` entry for every node, so a
lost card stops working everywhere at the next pull; lifting one (a lost card found) is that
entry's tombstone. Issuer public keys go into the feed too
(``issuer_key``): tills check the card's certificate with them.

The issuer's private keys are files in ``key_dir`` (mode 0600); central's database holds only
the public halves. Key 1 is made on first use; ``rotate_issuer_key`` makes the next one, which
signs every card from then on, and ``retire_issuer_key`` withdraws an old one from the tills.
"""

from __future__ import annotations

import os
import secrets
from datetime import date
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from kassa.central.access import audit
from kassa.central.models import Card, Customer, IssuerKey, LoyaltyAccount, Store
from kassa.central.replication.feed import FEED_LOCK_ID, customer_scope, record_change
from kassa.central.replication.feed_documents import customer_doc, stock_card_doc
from kassa.common.db import utcnow
from kassa.common.errors import Conflict, Invalid, NotFound
from kassa.common.storage.private import private_dir
from kassa.smartcard.applet import CardState
from kassa.smartcard.issuer import issue_card

BLOCK_REASONS = ("lost", "stolen", "damaged", "fraud", "replaced", "erased", "merged")
CARD_PREFIX = "777"
VALID_YEARS = 5
MAX_STOCK_BATCH = 10_000
MAX_ISSUER_KEY_ID = 255  # the card names its key in one byte (C5)


def issuer_key(session: Session, key_dir: Path) -> tuple[int, str]:
    """The newest active issuer key's id and private PEM, which new cards are signed with; the
    first call makes key 1."""
    key = _newest_active(session)
    if key is None:
        _lock_keys(session)
        key = _newest_active(session) or _new_issuer_key(session, key_dir)
    path = _key_path(key_dir, key.id)
    if not path.exists():
        raise Invalid("The private half of issuer key %(key_id)s is missing from %(key_dir)s.",
                      code="issuer_key_missing", key_id=key.id, key_dir=key_dir)
    return key.id, path.read_text()


def rotate_issuer_key(session: Session, key_dir: Path) -> IssuerKey:
    """A new issuer key, N+1, that every card issued from now on is signed with. Older keys
    stay active (their cards keep working) until ``retire_issuer_key``. Tills trust the new key
    from their next pull: a card signed with it is refused at a till that has not pulled yet."""
    key = _new_issuer_key(session, key_dir)
    audit.record(session, "issuer_key_rotate", f"issuer key {key.id}",
                 details={"previous": key.id - 1 or None})
    return key


def retire_issuer_key(session: Session, key_id: int, *, force: bool = False) -> int:
    """Stop trusting issuer key ``key_id``: central marks it inactive and tills drop it at their
    next pull, refusing every card it signed (``card_unknown_issuer``). Refused for the key new
    cards are signed with, and while unexpired cards that are not blocked still carry it unless
    ``force``. Returns how many such cards stop working."""
    key = session.get(IssuerKey, key_id, with_for_update=True)
    if key is None:
        raise NotFound("No issuer key %(key_id)s.", code="issuer_key_not_found", key_id=key_id)
    if not key.active:
        raise Conflict("Issuer key %(key_id)s is already retired.", code="issuer_key_retired",
                       key_id=key_id)
    newest = session.scalar(select(func.max(IssuerKey.id)).where(IssuerKey.active.is_(True)))
    if key_id == newest:
        raise Conflict("Issuer key %(key_id)s is the one new cards are signed with: rotate "
                       "first (`kassa central rotate-issuer-key`).", code="issuer_key_current",
                       key_id=key_id)
    carrying = session.scalar(select(func.count()).select_from(Card).where(
        Card.issuer_key_id == key_id, Card.status.in_(("issued", "active")),
        Card.expires_on >= utcnow().date()))
    assert carrying is not None  # count() always returns a row
    if carrying and not force:
        raise Conflict("%(cards)s card(s) in use still carry issuer key %(key_id)s; replace "
                       "them first, or retire with --force and they stop working.",
                       code="issuer_key_has_cards", details={"cards": carrying}, cards=carrying,
                       key_id=key_id)
    key.active = False
    session.flush()
    # A tombstone: tills delete the key, and cannot keep trusting it by missing a field.
    record_change(session, "issuer_key", key_id, None)
    audit.record(session, "issuer_key_retire", f"issuer key {key_id}",
                 reason="forced" if carrying else "", details={"cards_stopped": carrying})
    return carrying


def _key_path(key_dir: Path, key_id: int) -> Path:
    return Path(key_dir) / f"issuer-{key_id}.pem"


def _newest_active(session: Session) -> IssuerKey | None:
    return session.scalars(select(IssuerKey).where(IssuerKey.active.is_(True))
                           .order_by(IssuerKey.id.desc())).first()


def _lock_keys(session: Session) -> None:
    """Serialize making keys: two at once would both pick N+1. The feed's lock, which making a
    key takes anyway to publish it (on SQLite, ``BEGIN IMMEDIATE`` already serializes)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": FEED_LOCK_ID})


def _newest_id(session: Session) -> int:
    return session.scalar(select(func.max(IssuerKey.id))) or 0


def _new_issuer_key(session: Session, key_dir: Path) -> IssuerKey:
    """Key N+1: the private half to a new file (mode 0600), the public half to the database
    and the feed, active."""
    _lock_keys(session)
    key_id = _newest_id(session) + 1
    if key_id > MAX_ISSUER_KEY_ID:
        raise Conflict("Issuer key ids are one byte on the card (C5): key %(key_id)s was the "
                       "last one.", code="issuer_key_ids_exhausted", key_id=MAX_ISSUER_KEY_ID)
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    _write_private(_key_path(key_dir, key_id), pem)
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    key = IssuerKey(id=key_id, public_key_pem=public, active=True)
    session.add(key)
    session.flush()
    record_change(session, "issuer_key", key_id, {"id": key_id, "public_key_pem": public})
    return key


def _write_private(path: Path, pem: str) -> None:
    """Write the key file whole or not at all (mode 0600 from the start), on disk before the
    database names it. A file already there for an id the database lacks is most likely left
    by a transaction that rolled back, but might be the last trace of a key a restored database
    forgot: it is moved aside (``.unused-<time>``), never overwritten."""
    private_dir(path.parent)
    if path.exists():
        path.rename(path.with_name(f"{path.name}.unused-{utcnow():%Y%m%dT%H%M%S%f}"))
    partial = path.with_name(path.name + ".new")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(pem)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _new_number(session: Session) -> str:
    while True:
        number = CARD_PREFIX + "".join(secrets.choice("0123456789") for _ in range(13))
        if session.get(Card, number) is None and session.scalar(
                select(Customer.id).where(Customer.card_number == number)) is None:
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
    assert customer is not None  # foreign key of the account
    customer.card_number, customer.card_has_pin = number, pin is not None
    session.flush()
    record_change(session, "customer", customer.id, customer_doc(customer),
                  **customer_scope(session, customer))
    return state


def issue_stock(session: Session, store: Store, count: int, key_dir: Path, *,
                printed: bool = False, today: date | None = None) -> list[CardState | str]:
    """``count`` new cards for ``store``'s stock, no account yet: smart cards (their
    ``CardState``, for personalising) or, ``printed``, numbers for a card printer. Each goes to
    the store's tills in the feed (``stock_card``), so a till can give one to a new member,
    offline too."""
    if not 1 <= count <= MAX_STOCK_BATCH:
        raise Invalid("Issue 1 to %(most)s cards at a time.", code="bad_count",
                      most=MAX_STOCK_BATCH)
    today = today or utcnow().date()
    expires = today.replace(year=today.year + VALID_YEARS)
    key_id, key_pem = (None, "") if printed else issuer_key(session, key_dir)
    made: list[CardState | str] = []
    for _ in range(count):
        number = _new_number(session)
        made.append(number if key_id is None else
                    issue_card(key_pem, key_id, number, expires, None))
        session.add(Card(card_number=number, account_id=None, issuer_key_id=key_id,
                         kind="printed" if printed else "chip", store_id=store.id,
                         status="stock", expires_on=expires, has_pin=False))
        session.flush()
        record_change(session, "stock_card", number,
                      stock_card_doc(number, "printed" if printed else "chip"),
                      store_id=store.id)
    audit.record(session, "card_stock", f"{count} {'printed' if printed else 'smart'} cards "
                 f"for {store.code}")
    return made


def give_from_stock(session: Session, number: str, account: LoyaltyAccount,
                    node_id: str) -> str | None:
    """Make stock card ``number`` ``account``'s card, as a till did for a new member; None when
    done, else why not (``card_taken``: another till gave it first; ``card_unknown``; or the
    card's status), the first till to reach central keeping the card. The stores' tills drop it
    from their stock at their next pull."""
    card = session.get(Card, number, with_for_update=True)
    if card is None:
        return "card_unknown"
    if card.status != "stock":
        return "card_taken" if card.account_id is not None else f"card_{card.status}"
    card.account_id, card.status, card.assigned_by_node = account.id, "active", node_id
    card.activated_at = utcnow()
    session.flush()
    record_change(session, "stock_card", number, None, store_id=card.store_id)
    return None


def _card(session: Session, number: str) -> Card:
    card = session.get(Card, number, with_for_update=True)
    if card is None:
        raise NotFound("No card %(number)s.", code="card_not_found", number=number)
    return card


def activate(session: Session, number: str) -> Card:
    card = _card(session, number)
    if card.status != "issued":
        raise Conflict("Card %(number)s is %(card_status)s.", code="card_not_issued",
                       number=number, card_status=card.status)
    card.status, card.activated_at = "active", utcnow()
    session.flush()
    return card


def block(session: Session, number: str, reason: str, actor_id: int | None = None) -> Card:
    """Block a card now; every till refuses it from its next pull. The block is in the audit
    log with who did it (None: a command at central's console)."""
    if reason not in BLOCK_REASONS:
        raise Invalid("Say why: one of %(reasons)s.", code="bad_block_reason",
                      reasons=", ".join(BLOCK_REASONS))
    card = _card(session, number)
    if card.status in ("blocked", "replaced"):
        return card
    if card.status == "stock":  # lost from a store's drawer: its tills stop offering it
        record_change(session, "stock_card", number, None, store_id=card.store_id)
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
        raise Conflict("Card %(number)s was replaced by %(replaced_by)s.",
                       code="card_replaced", number=number, replaced_by=old.replaced_by)
    account = session.get(LoyaltyAccount, old.account_id)
    assert account is not None  # foreign key of the card
    state = issue(session, account, key_dir, pin=pin)
    activate(session, state.card_number)
    block(session, number, "replaced")
    old.replaced_by = state.card_number
    session.flush()
    return state


# Blocks that stay: the card was replaced, or its holder erased or merged into another record.
FINAL_BLOCKS = ("replaced", "erased", "merged")


def unblock(session: Session, number: str, actor_id: int | None = None) -> Card:
    """Lift a block (a lost card found): the card works again at every till from its next
    pull. Refused for a card that is not blocked and for a block that stays
    (``FINAL_BLOCKS``)."""
    card = _card(session, number)
    if card.status == "replaced":
        raise Conflict("Card %(number)s was replaced by %(replaced_by)s.",
                       code="card_replaced", number=number, replaced_by=card.replaced_by)
    if card.status != "blocked":
        raise Conflict("Card %(number)s is not blocked.", code="card_not_blocked",
                       number=number)
    if card.block_reason in FINAL_BLOCKS:
        raise Conflict("Card %(number)s stays blocked (%(reason)s).", code="card_block_final",
                       number=number, reason=card.block_reason)
    reason = card.block_reason or ""
    card.status = "active" if card.activated_at is not None else "issued"
    card.blocked_at = card.block_reason = None
    session.flush()
    record_change(session, "card_block", number, None)
    audit.record(session, "card_unblock", f"card {number}", reason=reason, actor_id=actor_id,
                 details={"was_blocked_for": reason})
    return card


def replace_at_office(session: Session, number: str, actor_id: int | None,
                      stock_number: str | None = None) -> Card:
    """The office's replacement of card ``number``: a card from a store's stock handed over
    (``stock_number``) or, without one, a new printed card number; either is the account's
    card at once (balance and history stay with the account) and the old card is blocked
    everywhere (reason ``replaced``)."""
    old = _card(session, number)
    if old.status == "replaced":
        raise Conflict("Card %(number)s was replaced by %(replaced_by)s.",
                       code="card_replaced", number=number, replaced_by=old.replaced_by)
    account = session.get(LoyaltyAccount, old.account_id) if old.account_id else None
    if account is None:
        raise Conflict("Card %(number)s belongs to nobody yet.", code="card_not_issued",
                       number=number)
    now = utcnow()
    if stock_number is not None:
        new = _card(session, stock_number)
        if new.status != "stock":
            raise Conflict("Card %(number)s is not in a store's stock.",
                           code="card_not_in_stock", number=stock_number)
        record_change(session, "stock_card", stock_number, None, store_id=new.store_id)
        new.account_id, new.status, new.activated_at = account.id, "active", now
    else:
        today = now.date()
        new = Card(card_number=_new_number(session), account_id=account.id, kind="printed",
                   status="active", expires_on=today.replace(year=today.year + VALID_YEARS),
                   has_pin=False, activated_at=now)
        session.add(new)
    session.flush()
    customer = session.get(Customer, account.customer_id)
    assert customer is not None  # foreign key of the account
    customer.card_number, customer.card_has_pin = new.card_number, new.has_pin
    session.flush()
    record_change(session, "customer", customer.id, customer_doc(customer),
                  **customer_scope(session, customer))
    block(session, number, "replaced", actor_id)  # a card blocked as lost keeps that reason
    old.status, old.replaced_by = "replaced", new.card_number
    session.flush()
    audit.record(session, "card_replace", f"card {number}", actor_id=actor_id,
                 reason="from stock" if stock_number else "new printed card",
                 details={"new_card": new.card_number})
    return new

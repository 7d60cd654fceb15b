"""Reading and writing a loyalty card, with the protocol's checks in the protocol's order.

``read_card`` returns a verified identity and the card-held record, marked trusted or not, or
raises ``CardError`` with a stable code: ``card_not_kassa``, ``card_unreadable``,
``card_expired``, ``card_unknown_issuer``, ``card_clone_suspected``, ``card_blocked``. A record
that fails its checks does not stop the sale: it comes back untrusted with ``record_tampered``
or ``record_replayed``, and the card-held balance is not used. ``write_record`` writes the next
record after a sale (the card enforces counter + 1), verifying the PIN first when asked to.

The card is reached through a ``Transport`` (pyscard through pcscd at the till; the applet
itself in unit tests), so these rules are tested without hardware.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Callable, Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from kassa.smartcard import card_protocol as p


class Transport(Protocol):
    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        """Send a command APDU; returns (response data, status word)."""


class CardError(Exception):
    def __init__(self, message: str, code: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.details = details or {}


@dataclass(frozen=True)
class CardIdentity:
    card_number: str
    expiry: date
    issuer_key_id: int


@dataclass(frozen=True)
class CardRecord:
    balance: int
    tier: int
    counter: int
    written_at: int
    writer: str


@dataclass(frozen=True)
class CardReading:
    identity: CardIdentity
    record: CardRecord | None
    record_trusted: bool
    record_problem: str | None = None  # record_tampered | record_replayed


@dataclass(frozen=True)
class Trust:
    """What a till trusts, from central: issuer keys by id, node keys, the block list, and the
    highest record counter it has seen per card."""

    issuer_keys: dict[int, ec.EllipticCurvePublicKey]
    node_key: Callable[[str], ec.EllipticCurvePublicKey | None]
    is_blocked: Callable[[str], bool]
    highest_counter: Callable[[str], int]


def read_card(card: Transport, trust: Trust, today: date,
              challenge: Callable[[int], bytes] = os.urandom) -> CardReading:
    identity, fields = _identity(card, today)
    _check_issuer(identity, fields, trust)
    _check_holds_key(card, fields, challenge(32))
    if trust.is_blocked(identity.card_number):
        raise CardError("This card is blocked.", "card_blocked")
    record, problem = _record(card, identity, trust)
    return CardReading(identity, record, record is not None and problem is None, problem)


def _command(card: Transport, apdu: bytes) -> tuple[bytes, int]:
    try:
        return card.transmit(apdu)
    except CardError:
        raise
    except Exception as err:  # noqa: BLE001 - a card pulled out mid-command, a reader error
        raise CardError(f"The card could not be read: {err}", "card_unreadable") from err


def _identity(card: Transport, today: date) -> tuple[CardIdentity, dict[int, bytes]]:
    _data, sw = _command(card, p.SELECT)
    if sw != p.SW_OK:
        raise CardError("This is not a loyalty card of ours.", "card_not_kassa")
    data, sw = _command(card, p.GET_IDENTITY)
    try:
        if sw != p.SW_OK:
            raise p.ProtocolError(f"GET DATA answered {sw:04X}")
        fields = p.parse_tlv(data)
        number = fields[p.CARD_NUMBER].decode("ascii")
        expiry = datetime.strptime(fields[p.EXPIRY].decode("ascii"), "%Y%m%d").date()
        key_id = fields[p.ISSUER_KEY_ID][0]
        if len(number) != 16 or not number.isdigit() or len(fields[p.CARD_KEY]) != 65 \
                or p.ISSUER_CERT not in fields:
            raise p.ProtocolError("bad identity")
    except (KeyError, IndexError, ValueError, UnicodeDecodeError) as err:
        raise CardError("The card's identity cannot be read.", "card_unreadable") from err
    identity = CardIdentity(number, expiry, key_id)
    if expiry < today:
        raise CardError(f"This card expired on {expiry:%d.%m.%Y}.", "card_expired")
    return identity, fields


def _check_issuer(identity: CardIdentity, fields: dict[int, bytes], trust: Trust) -> None:
    issuer = trust.issuer_keys.get(identity.issuer_key_id)
    message = p.cert_message(fields[p.CARD_NUMBER], fields[p.CARD_KEY], fields[p.EXPIRY],
                             fields[p.ISSUER_KEY_ID])
    if issuer is None or not p.verify(issuer, fields[p.ISSUER_CERT], message):
        raise CardError("This card was not issued by us.", "card_unknown_issuer")


def _check_holds_key(card: Transport, fields: dict[int, bytes], challenge: bytes) -> None:
    data, sw = _command(card, bytes.fromhex("80880000") + bytes([32]) + challenge + b"\x00")
    try:
        key = p.key_from_point(fields[p.CARD_KEY])
    except p.ProtocolError as err:
        raise CardError("The card's key cannot be read.", "card_unreadable") from err
    if sw != p.SW_OK or not p.verify(key, data, p.auth_message(challenge,
                                                               fields[p.CARD_NUMBER])):
        raise CardError("The card does not hold its own key: it may be a copy.",
                        "card_clone_suspected")


def _record(card: Transport, identity: CardIdentity,
            trust: Trust) -> tuple[CardRecord | None, str | None]:
    data, sw = _command(card, p.READ_RECORD)
    if sw == p.SW_RECORD_NOT_FOUND:
        return None, None
    try:
        if sw != p.SW_OK:
            raise p.ProtocolError(f"READ RECORD answered {sw:04X}")
        f = p.parse_tlv(data)
        record = CardRecord(int.from_bytes(f[p.BALANCE], "big"), f[p.TIER][0],
                            int.from_bytes(f[p.COUNTER], "big"),
                            int.from_bytes(f[p.WRITTEN_AT], "big"), f[p.WRITER].decode("ascii"))
    except (KeyError, IndexError, ValueError, UnicodeDecodeError):
        return None, "record_tampered"
    node_key = trust.node_key(record.writer)
    message = p.record_message(identity.card_number.encode(), f[p.BALANCE], f[p.TIER],
                               f[p.COUNTER], f[p.WRITTEN_AT], f[p.WRITER])
    if node_key is None or not p.verify(node_key, f[p.RECORD_SIG], message):
        return record, "record_tampered"
    if record.counter < trust.highest_counter(identity.card_number):
        return record, "record_replayed"
    return record, None


def write_record(card: Transport, card_number: str, balance: int, tier: int, counter: int,
                 node_id: str, node_key: ec.EllipticCurvePrivateKey, written_at: int,
                 pin: str | None = None) -> CardRecord:
    """Write the record that follows a sale; ``counter`` must be the card's counter + 1."""
    if pin is not None:
        verify_pin(card, pin)
    values = {p.BALANCE: p.uint(balance), p.TIER: bytes([tier]), p.COUNTER: p.uint(counter),
              p.WRITTEN_AT: p.uint(written_at), p.WRITER: node_id.encode("ascii")}
    signature = p.sign(node_key, p.record_message(card_number.encode(), *values.values()))
    body = b"".join(p.tlv(tag, value) for tag, value in values.items())
    body += p.tlv(p.RECORD_SIG, signature)
    _data, sw = _command(card, bytes.fromhex("80DC0100") + bytes([len(body)]) + body)
    if sw == p.SW_CONDITIONS:
        raise CardError("The card holds a newer record.", "record_counter_mismatch")
    if sw == p.SW_SECURITY:
        raise CardError("The card's PIN is needed to lower its balance.", "pin_required")
    if sw != p.SW_OK:
        raise CardError(f"The card refused the record ({sw:04X}).", "record_write_failed")
    return CardRecord(balance, tier, counter, written_at, node_id)


def verify_pin(card: Transport, pin: str) -> None:
    _data, sw = _command(card, bytes.fromhex("00200001") + bytes([len(pin)]) + pin.encode())
    if sw == p.SW_PIN_BLOCKED:
        raise CardError("The card's PIN is blocked.", "pin_blocked")
    if sw & 0xFFF0 == 0x63C0:
        raise CardError("Wrong PIN.", "pin_wrong", {"tries_left": sw & 0x0F})
    if sw != p.SW_OK:
        raise CardError(f"The PIN was refused ({sw:04X}).", "pin_refused")

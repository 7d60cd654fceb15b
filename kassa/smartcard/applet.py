"""The loyalty card itself: the applet the virtual card runs, answering the protocol's APDUs.

A physical card would run the same logic in its chip. The card's state (identity, private key,
record, counter, PIN and its tries) lives in a card file (JSON) that is rewritten atomically
(a temporary file, fsync, rename) whenever the state changes, so a record write is all or
nothing even if the process is killed: the protocol's promise for UPDATE RECORD.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from kassa.smartcard import card_protocol as p


@dataclass
class CardState:
    card_number: str
    private_key_pem: str
    card_key_hex: str
    issuer_cert_hex: str
    expiry: str  # YYYYMMDD
    issuer_key_id: int
    pin: str | None = None
    pin_tries_left: int = p.PIN_TRIES
    record_hex: str | None = None  # D1..D6 as the last accepted UPDATE RECORD sent them
    counter: int = 0

    def identity(self) -> bytes:
        return (p.tlv(p.CARD_NUMBER, self.card_number.encode())
                + p.tlv(p.CARD_KEY, bytes.fromhex(self.card_key_hex))
                + p.tlv(p.ISSUER_CERT, bytes.fromhex(self.issuer_cert_hex))
                + p.tlv(p.EXPIRY, self.expiry.encode())
                + p.tlv(p.ISSUER_KEY_ID, bytes([self.issuer_key_id])))


def load_card(path: Path) -> CardState:
    return CardState(**json.loads(Path(path).read_text()))


def save_card(state: CardState, path: Path) -> None:
    """Atomic replace: the old file or the new one, never a mix."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(asdict(state), out, indent=2)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class LoyaltyCardApplet:
    """Answers command APDUs as ``card-protocol.md`` says; ``path`` persists its state."""

    def __init__(self, state: CardState, path: Path | None = None):
        self.state = state
        self.path = path
        self._key = p.load_private(state.private_key_pem)
        self.power_on()

    def power_on(self) -> None:
        self.selected = False
        self.pin_verified = False

    def power_off(self) -> None:
        self.power_on()

    def process(self, apdu: bytes) -> bytes:
        if len(apdu) < 4:
            return _sw(p.SW_WRONG_LENGTH)
        cla, ins = apdu[0], apdu[1]
        if (cla, ins) == (0x00, 0xA4):
            return self._select(apdu)
        if not self.selected:
            return _sw(p.SW_CONDITIONS)
        handler = {(0x80, 0xCA): self._get_data, (0x80, 0x88): self._authenticate,
                   (0x80, 0xB2): self._read_record, (0x80, 0xDC): self._update_record,
                   (0x00, 0x20): self._verify_pin}.get((cla, ins))
        if handler is None:
            known_cla = cla in (0x00, 0x80)
            return _sw(p.SW_INS_NOT_SUPPORTED if known_cla else p.SW_CLA_NOT_SUPPORTED)
        return handler(apdu)

    def _select(self, apdu: bytes) -> bytes:
        data = _data(apdu)
        self.selected = data == p.AID
        self.pin_verified = False
        return _sw(p.SW_OK if self.selected else p.SW_APP_NOT_FOUND)

    def _get_data(self, apdu: bytes) -> bytes:
        if apdu[2:4] != b"\x00\x01":
            return _sw(p.SW_BAD_DATA)
        return self.state.identity() + _sw(p.SW_OK)

    def _authenticate(self, apdu: bytes) -> bytes:
        challenge = _data(apdu)
        if challenge is None or len(challenge) != 32:
            return _sw(p.SW_WRONG_LENGTH)
        message = p.auth_message(challenge, self.state.card_number.encode())
        return p.sign(self._key, message) + _sw(p.SW_OK)

    def _read_record(self, _apdu: bytes) -> bytes:
        if self.state.record_hex is None:
            return _sw(p.SW_RECORD_NOT_FOUND)
        return bytes.fromhex(self.state.record_hex) + _sw(p.SW_OK)

    def _update_record(self, apdu: bytes) -> bytes:
        data = _data(apdu) or b""
        try:
            fields = p.parse_tlv(data)
        except p.ProtocolError:
            return _sw(p.SW_BAD_DATA)
        if set(fields) != set(p.RECORD_TAGS) or len(fields[p.COUNTER]) != 4 or \
                len(fields[p.BALANCE]) != 4:
            return _sw(p.SW_BAD_DATA)
        counter = int.from_bytes(fields[p.COUNTER], "big")
        if counter != self.state.counter + 1:
            return _sw(p.SW_CONDITIONS)
        if self._lowers_balance(fields) and self.state.pin and not self.pin_verified:
            return _sw(p.SW_SECURITY)
        self.state.record_hex, self.state.counter = data.hex(), counter
        self._persist()
        return _sw(p.SW_OK)

    def _lowers_balance(self, fields: dict[int, bytes]) -> bool:
        if self.state.record_hex is None:
            return False
        old = p.parse_tlv(bytes.fromhex(self.state.record_hex))[p.BALANCE]
        return int.from_bytes(fields[p.BALANCE], "big") < int.from_bytes(old, "big")

    def _verify_pin(self, apdu: bytes) -> bytes:
        pin = _data(apdu) or b""
        if not 4 <= len(pin) <= 8 or not pin.isdigit():
            return _sw(p.SW_WRONG_LENGTH)
        if self.state.pin is None:
            self.pin_verified = True
            return _sw(p.SW_OK)
        if self.state.pin_tries_left == 0:
            return _sw(p.SW_PIN_BLOCKED)
        if pin.decode() == self.state.pin:
            self.state.pin_tries_left, self.pin_verified = p.PIN_TRIES, True
            self._persist()
            return _sw(p.SW_OK)
        self.state.pin_tries_left -= 1
        self._persist()
        if self.state.pin_tries_left == 0:
            return _sw(p.SW_PIN_BLOCKED)
        return _sw(0x63C0 | self.state.pin_tries_left)

    def _persist(self) -> None:
        if self.path is not None:
            save_card(self.state, self.path)


def _data(apdu: bytes) -> bytes | None:
    """The command data of a short APDU (case 3 or 4), or None when there is none."""
    if len(apdu) <= 5:
        return None
    lc = apdu[4]
    data = apdu[5:5 + lc]
    return data if len(data) == lc else None


def _sw(word: int) -> bytes:
    return word.to_bytes(2, "big")

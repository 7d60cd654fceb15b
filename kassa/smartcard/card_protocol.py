"""The loyalty card protocol, version 1 (``../shared/card-protocol.md``): constants, data objects
and the exact bytes each signature covers. Shared by the card (``applet``) and the reader
(``reader``), so the two cannot drift apart.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

AID = bytes.fromhex("F04B41535341" "01")

# Data objects: one-byte tag, one-byte length, value.
CARD_NUMBER, CARD_KEY, ISSUER_CERT, EXPIRY, ISSUER_KEY_ID = 0xC1, 0xC2, 0xC3, 0xC4, 0xC5
BALANCE, TIER, COUNTER, WRITTEN_AT, WRITER, RECORD_SIG = 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6
IDENTITY_TAGS = (CARD_NUMBER, CARD_KEY, ISSUER_CERT, EXPIRY, ISSUER_KEY_ID)
RECORD_TAGS = (BALANCE, TIER, COUNTER, WRITTEN_AT, WRITER, RECORD_SIG)
TIERS = ("base", "silver", "gold", "platinum")

SELECT = bytes.fromhex("00A40400") + bytes([len(AID)]) + AID + b"\x00"
GET_IDENTITY = bytes.fromhex("80CA000100")
READ_RECORD = bytes.fromhex("80B2010000")

SW_OK = 0x9000
SW_WRONG_LENGTH = 0x6700
SW_BAD_DATA = 0x6A80
SW_APP_NOT_FOUND = 0x6A82
SW_RECORD_NOT_FOUND = 0x6A83
SW_SECURITY = 0x6982
SW_PIN_BLOCKED = 0x6983
SW_CONDITIONS = 0x6985
SW_INS_NOT_SUPPORTED = 0x6D00
SW_CLA_NOT_SUPPORTED = 0x6E00
PIN_TRIES = 3


class ProtocolError(ValueError):
    """Bytes that do not follow the protocol."""


def tlv(tag: int, value: bytes) -> bytes:
    if len(value) > 255:
        raise ProtocolError(f"value of tag {tag:02X} too long")
    return bytes([tag, len(value)]) + value


def parse_tlv(data: bytes) -> dict[int, bytes]:
    """Tags in order; a truncated or repeated object is a protocol error."""
    out: dict[int, bytes] = {}
    i = 0
    while i < len(data):
        if i + 2 > len(data):
            raise ProtocolError("truncated data object")
        tag, length = data[i], data[i + 1]
        value = data[i + 2:i + 2 + length]
        if len(value) != length or tag in out:
            raise ProtocolError(f"bad data object {tag:02X}")
        out[tag] = value
        i += 2 + length
    return out


def uint(value: int, size: int = 4) -> bytes:
    return value.to_bytes(size, "big")


def cert_message(card_number: bytes, card_key: bytes, expiry: bytes, key_id: bytes) -> bytes:
    """What the issuer certificate (C3) signs."""
    return card_number + card_key + expiry + key_id


def auth_message(challenge: bytes, card_number: bytes) -> bytes:
    """What the card signs for INTERNAL AUTHENTICATE."""
    return b"KASSA-AUTH1" + challenge + card_number


def record_message(card_number: bytes, balance: bytes, tier: bytes, counter: bytes,
                   written_at: bytes, writer: bytes) -> bytes:
    """What the writer node's record signature (D6) signs: values only, in this order."""
    return b"KASSA-REC1" + card_number + balance + tier + counter + written_at + writer


def sign(private_key: ec.EllipticCurvePrivateKey, message: bytes) -> bytes:
    return private_key.sign(message, ec.ECDSA(hashes.SHA256()))


def verify(public_key: ec.EllipticCurvePublicKey, signature: bytes, message: bytes) -> bool:
    try:
        public_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        return True
    except (InvalidSignature, ValueError):
        return False


def point(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """The 65-byte uncompressed point C2 carries."""
    return public_key.public_bytes(serialization.Encoding.X962,
                                   serialization.PublicFormat.UncompressedPoint)


def key_from_point(data: bytes) -> ec.EllipticCurvePublicKey:
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), data)
    except ValueError as err:
        raise ProtocolError("not a P-256 point") from err


def load_private(pem: str) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        # Card, issuer and node keys are all P-256 (version 1): sign() could do nothing with
        # another kind.
        raise TypeError("card protocol keys are ECDSA keys")
    return key


def load_public(pem: str) -> ec.EllipticCurvePublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, ec.EllipticCurvePublicKey):
        # As for load_private: verify() could do nothing with another kind.
        raise TypeError("card protocol keys are ECDSA keys")
    return key

"""Issuing a card at central: a fresh card key, the issuer's certificate over the card's
identity, and the card file the (virtual) card runs from."""

from __future__ import annotations

from datetime import date

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kassa.smartcard import card_protocol as p
from kassa.smartcard.applet import CardState


def issue_card(issuer_key_pem: str, issuer_key_id: int, card_number: str, expiry: date,
               pin: str | None = None) -> CardState:
    if len(card_number) != 16 or not card_number.isdigit():
        raise ValueError("a card number is 16 digits")
    if pin is not None and not (4 <= len(pin) <= 8 and pin.isdigit()):
        raise ValueError("a PIN is 4 to 8 digits")
    card_key = ec.generate_private_key(ec.SECP256R1())
    public = p.point(card_key.public_key())
    expiry_text = expiry.strftime("%Y%m%d")
    cert = p.sign(p.load_private(issuer_key_pem), p.cert_message(
        card_number.encode(), public, expiry_text.encode(), bytes([issuer_key_id])))
    return CardState(
        card_number=card_number,
        private_key_pem=card_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()).decode(),
        card_key_hex=public.hex(), issuer_cert_hex=cert.hex(), expiry=expiry_text,
        issuer_key_id=issuer_key_id, pin=pin)

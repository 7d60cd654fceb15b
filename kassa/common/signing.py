"""Signed node requests: each node holds its own ECDSA P-256 key; central keeps only public keys.

A request carries ``X-Kassa-Node``, ``X-Kassa-Time`` (Unix seconds), ``X-Kassa-Nonce`` (random,
never reused) and ``X-Kassa-Signature`` (base64 DER) over a canonical string of method, path with
query, time, nonce and the SHA-256 of the body exactly as sent. Central refuses unknown nodes,
bad signatures, times outside its window and nonces it has seen within that window.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import secrets

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kassa.common import clock

HEADER_NODE = "X-Kassa-Node"
HEADER_TIME = "X-Kassa-Time"
HEADER_SIGNATURE = "X-Kassa-Signature"
HEADER_NONCE = "X-Kassa-Nonce"
NONCE_FORMAT = re.compile(r"[A-Za-z0-9_-]{16,64}")


def generate_private_key_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_key_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@functools.lru_cache(maxsize=1024)
def load_public_key(pem: str) -> ec.EllipticCurvePublicKey:
    """Parsed once per key (a PEM string is immutable; central checks thousands a second)."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError, UnsupportedAlgorithm) as err:
        raise ValueError("not a PEM public key") from err
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("node keys must be ECDSA P-256")
    return key


def canonical(method: str, path_qs: str, timestamp: int, nonce: str, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return (f"KASSA-REQ2\n{method.upper()}\n{path_qs}\n{timestamp}\n{nonce}\n{digest}"
            .encode())


@functools.lru_cache(maxsize=16)
def _private_key(private_pem: str) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        # A node makes its own key (generate_private_key_pem): another kind could not make
        # an ECDSA signature either.
        raise TypeError("a node's private key must be an ECDSA key")
    return key


def sign_request(private_pem: str, method: str, path_qs: str, timestamp: int, nonce: str,
                 body: bytes) -> str:
    sig = _private_key(private_pem).sign(canonical(method, path_qs, timestamp, nonce, body),
                   ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(sig).decode()


def signature_headers(node_id: str, private_pem: str, method: str, path_qs: str, body: bytes,
                      *, stamp: int | None = None, nonce: str | None = None) -> dict[str, str]:
    """The four headers that sign one request (a fresh nonce and the current time by default)."""
    stamp = int(clock.timestamp()) if stamp is None else stamp
    nonce = nonce or secrets.token_urlsafe(18)
    return {HEADER_NODE: node_id, HEADER_TIME: str(stamp), HEADER_NONCE: nonce,
            HEADER_SIGNATURE: sign_request(private_pem, method, path_qs, stamp, nonce, body)}


def verify_request(public_pem: str, signature_b64: str, method: str, path_qs: str,
                   timestamp: int, nonce: str, body: bytes) -> bool:
    try:
        sig = base64.b64decode(signature_b64, validate=True)
        load_public_key(public_pem).verify(
            sig, canonical(method, path_qs, timestamp, nonce, body), ec.ECDSA(hashes.SHA256())
        )
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False

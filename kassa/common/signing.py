"""Signed node requests: each node holds its own ECDSA P-256 key; central keeps only public keys.

A request carries ``X-Kassa-Node``, ``X-Kassa-Time`` (Unix seconds) and ``X-Kassa-Signature``
(base64 DER) over a canonical string of method, path with query, time and the SHA-256 of the body
exactly as sent. Central refuses unknown nodes, bad signatures and times outside its window.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

HEADER_NODE = "X-Kassa-Node"
HEADER_TIME = "X-Kassa-Time"
HEADER_SIGNATURE = "X-Kassa-Signature"


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


def load_public_key(pem: str) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError, UnsupportedAlgorithm) as err:
        raise ValueError("not a PEM public key") from err
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("node keys must be ECDSA P-256")
    return key


def canonical(method: str, path_qs: str, timestamp: int, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return f"KASSA-REQ1\n{method.upper()}\n{path_qs}\n{timestamp}\n{digest}".encode()


def sign_request(private_pem: str, method: str, path_qs: str, timestamp: int, body: bytes) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    sig = key.sign(canonical(method, path_qs, timestamp, body), ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(sig).decode()


def verify_request(public_pem: str, signature_b64: str, method: str, path_qs: str,
                   timestamp: int, body: bytes) -> bool:
    try:
        sig = base64.b64decode(signature_b64, validate=True)
        load_public_key(public_pem).verify(
            sig, canonical(method, path_qs, timestamp, body), ec.ECDSA(hashes.SHA256())
        )
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False

"""Password and PIN hashing with argon2id; verification never raises on a bad hash.

The cost is argon2-cffi's default (64 MiB and 3 passes: about 0.1 s a check here, on purpose).
``KASSA_PASSWORD_HASH_COST=test`` takes argon2-cffi's cheapest parameters instead, for test
suites, which hash and check thousands of demo secrets: the hashes are still argon2id, carry
their parameters and verify anywhere. Anything else than ``default`` or ``test`` is refused.
"""

from __future__ import annotations

import os
from functools import lru_cache

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    cost = os.environ.get("KASSA_PASSWORD_HASH_COST", "default")
    if cost == "test":
        return PasswordHasher.from_parameters(profiles.CHEAPEST)
    if cost != "default":
        raise ValueError(f"KASSA_PASSWORD_HASH_COST is 'default' or 'test', not {cost!r}")
    return PasswordHasher()


def hash_secret(secret: str) -> str:
    return _hasher().hash(secret)


def verify_secret(stored_hash: str | None, secret: str) -> bool:
    if not stored_hash:
        return False
    try:
        return _hasher().verify(stored_hash, secret)
    except (VerificationError, InvalidHashError):
        return False

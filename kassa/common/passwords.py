"""Password and PIN hashing with argon2id; verification never raises on a bad hash; how easy a
password is to guess (zxcvbn's estimate).

The cost is argon2-cffi's default (64 MiB and 3 passes: about 0.1 s a check here, on purpose).
``KASSA_PASSWORD_HASH_COST=test`` takes argon2-cffi's cheapest parameters instead, for test
suites, which hash and check thousands of demo secrets: the hashes are still argon2id, carry
their parameters and verify anywhere. Anything else than ``default`` or ``test`` is refused.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from functools import lru_cache

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

MIN_PASSWORD = 12
# zxcvbn's score from 0 to 4; 3 is its "safely unguessable" (about 10^10 guesses), which a
# stolen argon2id hash makes too slow to reach.
STRONG_ENOUGH = 3
_LONGEST_CHECKED = 100  # zxcvbn's time grows with the length; longer passwords are long enough


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
    """Whether ``secret`` matches ``stored_hash``. Without a hash (no such account, no PIN
    set) a stand-in is checked and refused: the answer takes the same work either way, so its
    time does not tell whether the account exists."""
    try:
        return _hasher().verify(stored_hash or _stand_in(), secret) and bool(stored_hash)
    except (VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=1)
def _stand_in() -> str:
    """A hash of a random secret, with the parameters real hashes are made with."""
    return _hasher().hash(secrets.token_urlsafe(16))


def weakness(password: str, related: Iterable[str] = ()) -> str | None:
    """None when ``password`` will do: ``MIN_PASSWORD`` characters or more and hard to guess
    (zxcvbn's score ``STRONG_ENOUGH`` or better, counting ``related`` words such as the user
    name as known to an attacker). Else a hint, in English, of what makes it easy to guess."""
    if len(password) < MIN_PASSWORD:
        return f"use {MIN_PASSWORD} characters at least"
    result = zxcvbn(password[:_LONGEST_CHECKED], user_inputs=[w for w in related if w])
    if result["score"] >= STRONG_ENOUGH:
        return None
    feedback = result["feedback"]
    hint: str = feedback["warning"] or next(iter(feedback["suggestions"]), "")
    return hint or "too easy to guess"

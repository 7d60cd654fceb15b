"""Secrets are argon2id at the library's default cost unless a test suite asks for the
cheapest; a hash made at either cost verifies with the other; a bad setting is refused."""

import pytest
from argon2 import extract_parameters

from kassa.common import passwords


@pytest.fixture
def cost(monkeypatch):
    def choose(value: str | None):
        if value is None:
            monkeypatch.delenv("KASSA_PASSWORD_HASH_COST", raising=False)
        else:
            monkeypatch.setenv("KASSA_PASSWORD_HASH_COST", value)
        passwords._hasher.cache_clear()
    yield choose
    passwords._hasher.cache_clear()


def test_the_default_cost_is_argon2s_and_test_hashes_verify_with_it(cost):
    cost("test")
    cheap = passwords.hash_secret("2468")
    cost(None)
    strong = passwords.hash_secret("2468")
    params = extract_parameters(strong)
    assert strong.startswith("$argon2id$") and (params.time_cost, params.memory_cost) == (3, 65536)
    assert extract_parameters(cheap).memory_cost < params.memory_cost
    assert passwords.verify_secret(cheap, "2468") and not passwords.verify_secret(cheap, "1357")
    assert passwords.verify_secret(strong, "2468")
    assert not passwords.verify_secret("not a hash", "2468")


def test_an_unknown_cost_is_refused(cost):
    cost("cheap")
    with pytest.raises(ValueError, match="KASSA_PASSWORD_HASH_COST"):
        passwords.hash_secret("2468")

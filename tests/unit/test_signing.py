from kassa.common.signing import (
    generate_private_key_pem,
    public_key_pem,
    sign_request,
    verify_request,
)

KEY = generate_private_key_pem()
PUB = public_key_pem(KEY)
N = "nonce-0123456789abcdef"


def test_a_signed_request_verifies():
    sig = sign_request(KEY, "POST", "/api/v1/sync/push", 1700000000, N, b"body")
    assert verify_request(PUB, sig, "POST", "/api/v1/sync/push", 1700000000, N, b"body")


def test_any_change_breaks_the_signature():
    sig = sign_request(KEY, "POST", "/api/v1/sync/push", 1700000000, N, b"body")
    assert not verify_request(PUB, sig, "POST", "/api/v1/sync/push", 1700000000, N, b"bodY")
    assert not verify_request(PUB, sig, "POST", "/api/v1/sync/push", 1700000001, N, b"body")
    assert not verify_request(PUB, sig, "GET", "/api/v1/sync/push", 1700000000, N, b"body")
    assert not verify_request(PUB, sig, "POST", "/api/v1/sync/pull", 1700000000, N, b"body")
    assert not verify_request(PUB, sig, "POST", "/api/v1/sync/push", 1700000000, N + "x",
                              b"body")


def test_another_nodes_key_does_not_verify():
    other = public_key_pem(generate_private_key_pem())
    sig = sign_request(KEY, "GET", "/x", 1, N, b"")
    assert not verify_request(other, sig, "GET", "/x", 1, N, b"")


def test_garbage_signature_is_false_not_an_exception():
    assert not verify_request(PUB, "not base64!!", "GET", "/x", 1, N, b"")
    assert not verify_request("not a key", "AAAA", "GET", "/x", 1, N, b"")

"""Signing in at the till (issue 23, findings 2, 4 and 6): PIN answers and work that do not
tell which user names exist, a session that signing out ends on the till itself, and changes
that need the session's CSRF token (the pages) or a JSON body (scripts)."""

from __future__ import annotations

import argon2


def test_a_known_name_and_an_unknown_one_answer_alike(node_app, pins, monkeypatch):
    """The same codes in the same order, the lockout included, and one argon2 check a try."""
    calls = []
    verify = argon2.PasswordHasher.verify
    monkeypatch.setattr(argon2.PasswordHasher, "verify",
                        lambda self, *a, **k: calls.append(1) or verify(self, *a, **k))
    wrong = "0000" if pins["cashier-s001"] != "0000" else "1111"
    answers = {}
    for name in ("cashier-s001", "nobody-here", "cashier-s002"):  # s002: another store's
        client = node_app.test_client()
        calls.clear()
        answers[name] = [client.post("/api/v1/session", json={"username": name, "pin": wrong}
                                     ).json["error"] for _ in range(6)]
        assert len(calls) == 6, name
    assert answers["cashier-s001"] == ["bad_pin"] * 5 + ["pin_locked"]
    assert answers["nobody-here"] == answers["cashier-s001"] == answers["cashier-s002"]
    right = node_app.test_client().post("/api/v1/session", json={
        "username": "cashier-s001", "pin": pins["cashier-s001"]})
    assert right.json["error"] == "pin_locked"  # locked: the right PIN waits too


def test_signing_out_ends_the_session_on_the_till(node_app, till):
    """A copy of the cookie taken before signing out opens nothing after it."""
    copy = node_app.test_client()
    with till.session_transaction() as theirs, copy.session_transaction() as mine:
        mine.update(theirs)
    assert copy.get("/api/v1/session").status_code == 200
    assert till.delete("/api/v1/session").status_code == 204
    gone = copy.get("/api/v1/session")
    assert gone.status_code == 401 and gone.json["error"] == "signed_out"
    assert copy.get("/api/v1/cart").status_code == 401


def test_a_change_needs_the_token_or_json(till):
    """Without the header: an empty POST, a form and text/plain are refused before they run;
    JSON (a script's) passes; with the session's token, an empty POST passes too."""
    token = till.environ_base.pop("HTTP_X_CSRF_TOKEN")
    for kind in (None, "application/x-www-form-urlencoded", "text/plain"):
        refused = till.post("/api/v1/node/sync", content_type=kind)
        assert (refused.status_code, refused.json["error"]) == (403, "csrf_failed"), kind
    cross = till.post("/api/v1/cart/void", json={}, headers={"Sec-Fetch-Site": "same-site"})
    assert (cross.status_code, cross.json["error"]) == (403, "csrf_failed")
    assert till.post("/api/v1/cart/lines", json={"sku": "1001", "quantity": 1}
                     ).status_code == 201
    assert till.post("/api/v1/node/sync", headers={"X-CSRF-Token": token}).status_code == 202
    assert till.post("/api/v1/node/sync", headers={"X-CSRF-Token": "a guess"}
                     ).status_code == 403

"""People at central, on SQLite and PostgreSQL: web sign-in with a session cookie and CSRF
tokens, lockout after wrong passwords, password change ending other sessions, API tokens
stored hashed and revocable, and all of it in the audit log."""

import hashlib
import re

from sqlalchemy import select

from kassa.central.models import ApiToken, AuditEntry
from tests.helpers import basic_auth, csrf_of


def sign_in(client, username, password, next_page=""):
    page = client.get("/ops/signin")
    return client.post("/ops/signin", data={"csrf": csrf_of(page.text), "username": username,
                                            "password": password, "next": next_page})


def test_a_web_session_needs_its_csrf_token_for_changes(central_app, seeded):
    client = central_app.test_client()
    password = seeded["users"]["office"]["password"]
    assert client.get("/ops/nodes").status_code == 302  # to the sign-in page
    done = sign_in(client, "office", password, next_page="/ops/authorizations")
    assert done.status_code == 302 and done.headers["Location"].endswith("/ops/authorizations")
    page = client.get("/ops/authorizations")
    assert page.status_code == 200
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    assert client.get("/api/v1/authorizations").status_code == 200  # reading: no token needed
    forged = client.post("/api/v1/account/tokens", json={"name": "from another site"})
    assert forged.status_code == 403 and forged.json["error"] == "csrf_failed"
    made = client.post("/api/v1/account/tokens", json={"name": "mine"},
                       headers={"X-CSRF-Token": token})
    assert made.status_code == 201
    # A form without the session's token is refused; with it, signing out works.
    client.post("/ops/signout", data={"csrf": "nope"})
    assert client.get("/ops/nodes").status_code == 200
    client.post("/ops/signout", data={"csrf": token})
    assert client.get("/ops/nodes").status_code == 302
    # Sign-in cookie flags.
    other = central_app.test_client()
    response = sign_in(other, "office", password)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie


def test_wrong_passwords_lock_the_user_out(central_app, central_db, seeded):
    client = central_app.test_client()
    for _ in range(5):
        wrong = sign_in(client, "rm-msk", "not the password")
    assert wrong.status_code == 401 and "locked out" in wrong.text
    right = sign_in(client, "rm-msk", seeded["users"]["rm-msk"]["password"])
    assert right.status_code == 401 and "locked out" in right.text
    api = client.get("/api/v1/authorizations",
                     headers=basic_auth("rm-msk", seeded["users"]["rm-msk"]["password"]))
    assert api.status_code == 401 and api.json["error"] == "account_locked"
    with central_db.read() as session:
        actions = [a.action for a in session.scalars(
            select(AuditEntry).where(AuditEntry.subject == "user rm-msk").order_by(AuditEntry.id))]
    assert actions[:4] == ["sign_in:wrong"] * 4 and "sign_in:locked" in actions


def test_a_password_change_ends_other_sessions(central_app, seeded):
    old = seeded["users"]["sm-s001"]["password"]
    here, elsewhere = central_app.test_client(), central_app.test_client()
    sign_in(here, "sm-s001", old)
    sign_in(elsewhere, "sm-s001", old)
    form = here.get("/ops/password")
    short = here.post("/ops/password", data={"csrf": csrf_of(form.text), "current": old,
                                              "new": "short", "repeat": "short"})
    assert short.status_code == 422
    common = here.post("/ops/password", data={"csrf": csrf_of(form.text), "current": old,
                                               "new": "qwerty123456", "repeat": "qwerty123456"})
    assert common.status_code == 422 and "too easy to guess" in common.text
    done = here.post("/ops/password", data={
        "csrf": csrf_of(form.text), "current": old, "new": "a much longer password",
        "repeat": "a much longer password"})
    assert done.status_code == 200 and "is changed" in done.text
    assert here.get("/ops/nodes").status_code == 200  # this session goes on
    assert elsewhere.get("/ops/nodes").status_code == 302  # the other one ended
    assert sign_in(central_app.test_client(), "sm-s001", old).status_code == 401
    assert sign_in(central_app.test_client(), "sm-s001",
                   "a much longer password").status_code == 302


def test_api_tokens_are_stored_hashed_and_revocable(central_app, central_db, seeded):
    client = central_app.test_client()
    office = basic_auth("office", seeded["users"]["office"]["password"])
    made = client.post("/api/v1/account/tokens", json={"name": "BI export"}, headers=office)
    assert made.status_code == 201
    token = made.json["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/nodes/status", headers=bearer).status_code == 200
    with central_db.read() as session:
        stored = session.get(ApiToken, made.json["id"])
        assert stored.secret_sha256 == hashlib.sha256(token.split("_", 2)[2].encode()
                                                      ).hexdigest()
        assert token not in stored.secret_sha256
    listed = client.get("/api/v1/account/tokens", headers=bearer).json["tokens"]
    assert [t["name"] for t in listed] == ["BI export"] and "token" not in listed[0]
    # Someone else cannot revoke it; its owner can, and it stops at once.
    rm = basic_auth("rm-spb", seeded["users"]["rm-spb"]["password"])
    assert client.delete(f"/api/v1/account/tokens/{made.json['id']}",
                         headers=rm).status_code == 404
    assert client.delete(f"/api/v1/account/tokens/{made.json['id']}",
                         headers=office).status_code == 200
    refused = client.get("/api/v1/nodes/status", headers=bearer)
    assert refused.status_code == 401 and refused.json["error"] == "bad_token"
    forged = client.get("/api/v1/nodes/status", headers={
        "Authorization": f"Bearer kassa_{made.json['id']}_{'x' * 43}"})
    assert forged.status_code == 401

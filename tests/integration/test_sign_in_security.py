"""Signing in at central, attacked over real HTTP on both engines (issue 23, findings 2, 4, 5,
6 and 7): no password challenge and no change on a remembered password that a form on another
site could send; the same answers and the same work for names, addresses and nodes that exist
and those that do not; a lockout that is one client's only; sessions and tokens that end when
they should; a store manager who cannot place a cashier elsewhere or give one a password."""

from __future__ import annotations

import http.client
import json
import re
from urllib.parse import urlsplit

import argon2
import pytest
import requests
from sqlalchemy import func, select

from kassa.central.models import AuditEntry, MailMessage, Node, User
from kassa.common.passwords import hash_secret
from kassa.common.signing import generate_private_key_pem, public_key_pem
from tests.helpers import basic_auth, csrf_of


def call(base: str, method: str, path: str, *, source: str = "127.0.0.1",
         headers: dict | None = None, body: bytes | None = None):
    """One request from ``source`` (another loopback address is another client):
    (status, headers, JSON or text)."""
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=20,
                                      source_address=(source, 0))
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read().decode()
        kind = resp.getheader("Content-Type", "")
        return resp.status, dict(resp.getheaders()), \
            json.loads(data) if kind.startswith("application/json") and data else data
    finally:
        conn.close()


@pytest.fixture
def argon2_calls(monkeypatch):
    """How many argon2 checks and hashes ran: ``calls["verify"]``, ``calls["hash"]``."""
    calls = {"verify": 0, "hash": 0}
    verify, make = argon2.PasswordHasher.verify, argon2.PasswordHasher.hash

    def counted_verify(self, *args, **kwargs):
        calls["verify"] += 1
        return verify(self, *args, **kwargs)

    def counted_hash(self, *args, **kwargs):
        calls["hash"] += 1
        return make(self, *args, **kwargs)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", counted_verify)
    monkeypatch.setattr(argon2.PasswordHasher, "hash", counted_hash)
    return calls


def _active(central_db, node_id: str) -> bool:
    with central_db.read() as s:
        return s.get(Node, node_id).active


# --- finding 2: a remembered password is no key for another site -----------------------------

def test_no_challenge_and_no_change_a_form_could_send(live_central, central_db, seeded):
    """A 401 never asks a browser for a password; with the admin's password (as a browser
    that remembered it would send it), an empty form POST, a text/plain one, one without a
    type, and JSON marked cross-site by the browser all fail to revoke a till. A script's JSON
    does it."""
    status, headers, body = call(live_central, "GET", "/api/v1/nodes/status")
    assert status == 401 and body["error"] == "auth_required"
    assert "WWW-Authenticate" not in headers
    status, headers, _ = call(live_central, "GET", "/api/v1/nodes/status",
                              headers=basic_auth("admin", "wrong password"))
    assert status == 401 and "WWW-Authenticate" not in headers
    admin = basic_auth("admin", seeded["users"]["admin"]["password"])
    for extra in ({"Content-Type": "application/x-www-form-urlencoded"},
                  {"Content-Type": "text/plain"}, {"Content-Type": "multipart/form-data; b=x"},
                  {}, {"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"},
                  {"Content-Type": "application/json", "Sec-Fetch-Site": "same-site"}):
        status, _, body = call(live_central, "POST", "/api/v1/nodes/pos-2/revoke",
                               headers={**admin, **extra}, body=b"")
        assert (status, body["error"]) == (403, "csrf_failed"), extra
    assert _active(central_db, "pos-2")
    status, _, _ = call(live_central, "POST", "/api/v1/nodes/pos-2/revoke",
                        headers={**admin, "Content-Type": "application/json"}, body=b"{}")
    assert status == 200 and not _active(central_db, "pos-2")


# --- findings 4 and 5: names cannot be counted; a lockout is one client's ------------------

def _basic_tries(base, username, source="127.0.0.1", times=6):
    return [call(base, "GET", "/api/v1/nodes/status", source=source,
                 headers=basic_auth(username, "not the password"))[2]["error"]
            for _ in range(times)]


def test_a_known_name_and_an_unknown_one_answer_alike(live_central, central_db, seeded,
                                                      argon2_calls):
    """The same codes in the same order (the lockout included) and one argon2 check a try,
    for a real user, a name nobody has, an inactive user and a cashier (no password here)."""
    with central_db.transaction() as s:
        s.scalars(select(User).where(User.username == "rm-spb")).one().active = False
        # An old cashier row that carries a password: central never checks it.
        s.scalars(select(User).where(User.username == "cashier-s001")).one().password_hash = \
            hash_secret("not the password")
    answers = {}
    for name in ("rm-msk", "nobody-at-all", "rm-spb", "cashier-s001"):
        argon2_calls["verify"] = 0
        answers[name] = _basic_tries(live_central, name)
        assert argon2_calls["verify"] == 6, name
    assert answers["rm-msk"] == ["bad_credentials"] * 4 + ["account_locked"] * 2
    assert len({tuple(a) for a in answers.values()}) == 1, answers
    # The web form says the same for both, word for word but the name.
    pages = {}
    for name in ("office", "nobody-else"):
        client = requests.Session()
        texts = []
        for _ in range(6):
            form = client.get(f"{live_central}/ops/signin")
            resp = client.post(f"{live_central}/ops/signin", data={
                "csrf": csrf_of(form.text), "username": name, "password": "wrong one"},
                allow_redirects=False)
            message = re.search(r'id="signin-error">([^<]*)<', resp.text)
            texts.append((resp.status_code, (message.group(1) if message else "")
                          .replace(name, "NAME")))
        pages[name] = texts
    assert pages["office"] == pages["nobody-else"]
    assert pages["office"][-1][0] == 401 and "locked out" in pages["office"][-1][1]


def test_a_lockout_is_the_clients_not_the_accounts(live_central, central_db, seeded):
    """Five wrong passwords from 127.0.0.2 lock that client out of admin; admin goes on
    working from 127.0.0.1; the lockout is audited with the client's address; clearing it
    lets the other client in again."""
    password = seeded["users"]["admin"]["password"]
    assert _basic_tries(live_central, "admin", source="127.0.0.2", times=5)[-1] == \
        "account_locked"
    status, _, body = call(live_central, "GET", "/api/v1/nodes/status", source="127.0.0.2",
                           headers=basic_auth("admin", password))
    assert (status, body["error"]) == (401, "account_locked")
    status, _, users = call(live_central, "GET", "/api/v1/users",
                            headers=basic_auth("admin", password))
    assert status == 200
    admin_row = next(u for u in users["users"] if u["username"] == "admin")
    assert admin_row["locked"] is True
    with central_db.read() as s:
        locked = s.scalars(select(AuditEntry).where(AuditEntry.action == "sign_in:locked",
                                                    AuditEntry.subject == "user admin")).all()
    assert locked and {a.reason for a in locked} == {"127.0.0.2"}
    status, _, _ = call(live_central, "PATCH", f"/api/v1/users/{admin_row['id']}",
                        headers={**basic_auth("admin", password),
                                 "Content-Type": "application/json"},
                        body=json.dumps({"unlock": True}).encode())
    assert status == 200
    status, _, _ = call(live_central, "GET", "/api/v1/nodes/status", source="127.0.0.2",
                        headers=basic_auth("admin", password))
    assert status == 200


# --- finding 6: sessions and tokens end when they should ------------------------------------

def _web_sign_in(base: str, username: str, password: str) -> requests.Session:
    client = requests.Session()
    form = client.get(f"{base}/ops/signin")
    done = client.post(f"{base}/ops/signin", data={"csrf": csrf_of(form.text),
                                                   "username": username, "password": password},
                       allow_redirects=False)
    assert done.status_code == 302, done.text
    return client


def test_signing_out_ends_the_session_on_the_server(live_central, seeded):
    """A copy of the cookie taken before signing out opens nothing after it."""
    client = _web_sign_in(live_central, "office", seeded["users"]["office"]["password"])
    copy = requests.Session()
    copy.cookies.update(client.cookies)
    assert copy.get(f"{live_central}/ops/nodes", allow_redirects=False).status_code == 200
    page = client.get(f"{live_central}/ops/nodes")
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    client.post(f"{live_central}/ops/signout", data={"csrf": token})
    assert copy.get(f"{live_central}/ops/nodes", allow_redirects=False).status_code == 302
    assert copy.get(f"{live_central}/api/v1/nodes/status").status_code == 401


def test_a_password_reset_ends_sessions_and_revokes_tokens(live_central, central_db, seeded):
    office_pw = seeded["users"]["office"]["password"]
    browser = _web_sign_in(live_central, "office", office_pw)
    made = requests.post(f"{live_central}/api/v1/account/tokens", json={"name": "BI"},
                         headers=basic_auth("office", office_pw))
    bearer = {"Authorization": f"Bearer {made.json()['token']}"}
    assert requests.get(f"{live_central}/api/v1/nodes/status", headers=bearer).ok
    admin = basic_auth("admin", seeded["users"]["admin"]["password"])
    office_id = next(u["id"] for u in requests.get(f"{live_central}/api/v1/users",
                                                   headers=admin).json()["users"]
                     if u["username"] == "office")
    reset = requests.patch(f"{live_central}/api/v1/users/{office_id}", headers=admin,
                           json={"password": "a fresh long passphrase for office"})
    assert reset.status_code == 200
    assert browser.get(f"{live_central}/ops/nodes", allow_redirects=False).status_code == 302
    refused = requests.get(f"{live_central}/api/v1/nodes/status", headers=bearer)
    assert refused.status_code == 401 and refused.json()["error"] == "bad_token"
    with central_db.read() as s:
        line = s.scalars(select(AuditEntry).where(
            AuditEntry.action == "api_token_revoked")).one()
    assert line.reason == "password reset" and line.subject.endswith(" BI")


def test_an_admin_lists_and_revokes_anyones_tokens(live_central, central_db, seeded):
    rm = basic_auth("rm-msk", seeded["users"]["rm-msk"]["password"])
    made = requests.post(f"{live_central}/api/v1/account/tokens", json={"name": "reports"},
                         headers=rm).json()
    admin = basic_auth("admin", seeded["users"]["admin"]["password"])
    office = basic_auth("office", seeded["users"]["office"]["password"])
    with central_db.read() as s:
        rm_id = s.scalars(select(User.id).where(User.username == "rm-msk")).one()
    url = f"{live_central}/api/v1/users/{rm_id}/tokens"
    assert requests.get(url, headers=office).status_code == 403
    listed = requests.get(url, headers=admin).json()["tokens"]
    assert [(t["id"], t["name"], t["revoked_at"]) for t in listed] == [
        (made["id"], "reports", None)] and "token" not in listed[0]
    assert requests.delete(f"{url}/{made['id']}", headers=office).status_code == 403
    assert requests.delete(f"{live_central}/api/v1/users/{rm_id + 1}/tokens/{made['id']}",
                           headers=admin).status_code == 404  # not that user's token
    assert requests.delete(f"{url}/{made['id']}", headers=admin).status_code == 200
    assert requests.get(f"{live_central}/api/v1/nodes/status", headers={
        "Authorization": f"Bearer {made['token']}"}).status_code == 401
    with central_db.read() as s:
        admin_id = s.scalars(select(User.id).where(User.username == "admin")).one()
        actions = [(a.action, a.actor_id) for a in s.scalars(select(AuditEntry).where(
            AuditEntry.action.in_(("api_tokens_listed", "api_token_revoked"))))]
    assert actions == [("api_tokens_listed", admin_id), ("api_token_revoked", admin_id)]


# --- finding 7: a store manager's reach; a cashier's password; enrolment -------------------

def test_a_store_manager_cannot_place_a_cashier_elsewhere_or_give_a_password(
        live_central, central_db, seeded):
    sm = basic_auth("sm-s001", seeded["users"]["sm-s001"]["password"])
    with central_db.read() as s:
        before = s.scalar(select(func.count()).select_from(User))
    new = {"username": "new-cashier", "role": "cashier", "pin": "4321", "store_code": "S001"}
    other_region = requests.post(f"{live_central}/api/v1/users", headers=sm,
                                 json={**new, "region_code": "SPB"})
    assert other_region.status_code == 404 and \
        other_region.json()["error"] == "region_not_found"
    with_password = requests.post(f"{live_central}/api/v1/users", headers=sm, json={
        **new, "password": "a long enough password for a cashier"})
    assert with_password.status_code == 422 and \
        with_password.json()["error"] == "password_not_allowed"
    with central_db.read() as s:
        assert s.scalar(select(func.count()).select_from(User)) == before
    admin = basic_auth("admin", seeded["users"]["admin"]["password"])
    with central_db.read() as s:
        cashier = s.scalars(select(User.id).where(User.username == "cashier-s001")).one()
    reset = requests.patch(f"{live_central}/api/v1/users/{cashier}", headers=admin,
                           json={"password": "a long enough password for a cashier"})
    assert reset.status_code == 422 and reset.json()["error"] == "password_not_allowed"
    made = requests.post(f"{live_central}/api/v1/users", headers=sm,
                         json={**new, "region_code": "MSK"})
    assert made.status_code == 201 and made.json()["store_code"] == "S001"


def test_enrolment_answers_alike_and_is_rate_limited(live_central, central_db, seeded,
                                                     argon2_calls):
    """An unknown node, a node with a code pending and an enrolled one: the same refusal,
    one argon2 check each. Ten refusals from one client, then 429 before any check; another
    client enrols with the right code."""
    key = public_key_pem(generate_private_key_pem())
    with central_db.transaction() as s:
        from kassa.central.replication.nodes import enroll_node
        enroll_node(s, "pos-1", seeded["nodes"]["pos-1"]["enroll_code"], key)

    def enroll(node_id, code, source="127.0.0.1"):
        return call(live_central, "POST", "/api/v1/nodes/enroll", source=source,
                    headers={"Content-Type": "application/json"},
                    body=json.dumps({"node_id": node_id, "code": code,
                                     "public_key_pem": key}).encode())

    answers = []
    for node_id in ("no-such-node", "pos-2", "pos-1"):
        argon2_calls["verify"] = 0
        status, _, body = enroll(node_id, "a guess")
        answers.append((status, body["error"], body["message"]))
        assert argon2_calls["verify"] == 1, node_id
    assert len(set(answers)) == 1 and answers[0][:2] == (401, "enrollment_refused")
    for _ in range(10):
        assert enroll("pos-2", "a guess", "127.0.0.3")[0] == 401
    argon2_calls["verify"] = 0
    status, _, body = enroll("pos-2", seeded["nodes"]["pos-2"]["enroll_code"], "127.0.0.3")
    assert (status, body["error"]) == (429, "rate_limited") and argon2_calls["verify"] == 0
    status, _, body = enroll("pos-2", seeded["nodes"]["pos-2"]["enroll_code"], "127.0.0.4")
    assert status == 200 and body["node_id"] == "pos-2"


# --- the customer's page: addresses and cards cannot be counted; codes leave the outbox ----

@pytest.fixture
def anna(central_db, seeded, tmp_path):
    """Anna's new card, web PIN 2468, her address anna@example.ru: (card number, address)."""
    from kassa.central.membership import cards
    from kassa.central.models import Customer, LoyaltyAccount
    from kassa.central.selfservice import my_account
    with central_db.transaction() as s:
        customer = s.scalars(select(Customer).where(Customer.name == "Anna Petrova")).one()
        customer.email = "anna@example.ru"
        account = s.scalars(select(LoyaltyAccount).where(
            LoyaltyAccount.customer_id == customer.id)).one()
        number = cards.issue(s, account, tmp_path).card_number
        my_account.set_web_pin(s, number, "2468")
    return number, "anna@example.ru"


def _me(base, path, payload, source="127.0.0.1"):
    status, _, body = call(base, "POST", path, source=source,
                           headers={"Content-Type": "application/json"},
                           body=json.dumps(payload).encode())
    return status, body.get("error"), body.get("message")


def test_a_customers_address_and_card_cannot_be_counted(live_central, anna, argon2_calls):
    """Asking for a code, signing in with one and signing in with a card: for what exists
    and what does not, the same answers in the same order (the lockout included) and the same
    argon2 work. (Each test's client address is its own, under the per-address limit.)"""
    number, address = anna
    work, answers = {}, {}
    for who, email in (("known", address), ("unknown", "nobody@example.ru")):
        argon2_calls["hash"] = argon2_calls["verify"] = 0
        answers[who, "code"] = _me(live_central, "/api/v1/me/code", {"email": email})
        work[who, "code"] = argon2_calls["hash"]
        argon2_calls["verify"] = 0
        answers[who, "sign-in"] = [_me(live_central, "/api/v1/me/sign-in",
                                       {"email": email, "code": "000000"}, "127.0.0.5")
                                   for _ in range(6)]
        work[who, "sign-in"] = argon2_calls["verify"]
    for who, card in (("known", number), ("unknown", "7770999999999999")):
        argon2_calls["verify"] = 0
        answers[who, "card"] = [_me(live_central, "/api/v1/me/sign-in",
                                    {"card_number": card, "pin": "1111"}, "127.0.0.6")
                                for _ in range(6)]
        work[who, "card"] = argon2_calls["verify"]
    for what in ("code", "sign-in", "card"):
        assert answers["known", what] == answers["unknown", what], what
        assert work["known", what] == work["unknown", what] > 0, what
    assert answers["known", "code"][0] == 202
    assert [a[1] for a in answers["known", "sign-in"]] == \
        ["bad_credentials"] * 5 + ["card_locked"]


def test_a_sign_in_code_leaves_the_outbox_once_sent(live_central, central_db, anna, smtp):
    from tests.helpers import wait_until
    _, address = anna
    assert _me(live_central, "/api/v1/me/code", {"email": address})[0] == 202
    assert wait_until(lambda: smtp.messages, timeout=10)
    code = re.search(r"\b(\d{6})\b", smtp.messages[-1][1].split("\n\n", 1)[-1]).group(1)
    with central_db.read() as s:
        row = s.scalars(select(MailMessage)).one()
    assert row.sent_at is not None and code not in row.subject + row.body
    assert (row.subject, row.body) == ("", "")
    assert _me(live_central, "/api/v1/me/sign-in", {"email": address, "code": code})[0] == 200

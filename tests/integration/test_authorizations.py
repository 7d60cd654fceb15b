"""Central's authorization service on SQLite and PostgreSQL: policies decide at once or queue
for staff, staff decide within their level and region, a till waiting on a long-poll hears
the answer as soon as it is given, unanswered requests escalate and expire, and every decision
is in the audit log with the policy that made it."""

import threading
import uuid
from datetime import timedelta

import requests
from sqlalchemy import select

from kassa.central.access import authorizations
from kassa.central.models import AuditEntry, Authorization
from kassa.common.db import utcnow
from kassa.common.signing import signature_headers
from tests.helpers import basic_auth, signed

PATH = "/api/v1/authorizations"


def ask(client, enrolled, kind="refund", amount=250_000, subject="receipt pos-1-00000001"):
    node_id, key = enrolled
    return signed(client, "POST", PATH, node_id, key,
                  {"kind": kind, "amount": amount, "subject": subject})


def staff(seeded, username):
    return basic_auth(username, seeded["users"][username]["password"])


def test_the_policy_decides_at_once_or_queues_for_staff(central_app, central_db, enrolled):
    client = central_app.test_client()
    with central_db.transaction() as session:
        authorizations.set_policy(session, "refund", None, auto_approve_max=300_000,
                                  decline_over=2_000_000)
        authorizations.set_policy(session, "refund", 1, auto_approve_max=100_000)
    small = ask(client, enrolled, amount=90_000).json
    assert (small["status"], small["policy"]) == ("approved", "refund:store 1")
    # Store 1's own policy wins over the chain's: 250,000 is not within its 100,000.
    middle = ask(client, enrolled, amount=250_000).json
    assert (middle["status"], middle["level"]) == ("pending", "central_office")
    discount = ask(client, enrolled, kind="discount", amount=6000).json
    assert (discount["status"], discount["policy"]) == ("pending", "default:review")
    with central_db.transaction() as session:
        authorizations.set_policy(session, "refund", 1, auto_approve_max=100_000,
                                  decline_over=1_000_000)
    big = ask(client, enrolled, amount=1_500_000).json
    assert (big["status"], big["reason"]) == ("declined", "over 1000000")
    with central_db.read() as session:
        audit = {a.reference_id: a for a in session.scalars(select(AuditEntry).where(
            AuditEntry.action.like("authorization:%")))}
    assert audit[uuid.UUID(small["id"])].action == "authorization:approved"
    assert audit[uuid.UUID(big["id"])].reason == "refund:store 1: over 1000000"
    assert uuid.UUID(middle["id"]) not in audit  # undecided yet


def test_bad_requests_get_clear_errors(central_app, enrolled, seeded):
    client = central_app.test_client()
    node_id, key = enrolled
    for body in ({"kind": "bribe", "amount": 1, "subject": "x"},
                 {"kind": "refund", "amount": -1, "subject": "x"},
                 {"kind": "refund", "amount": "100", "subject": "x"},
                 {"kind": "refund", "amount": 1, "subject": ""}):
        resp = signed(client, "POST", PATH, node_id, key, body)
        assert resp.status_code == 422 and resp.json["error"] == "invalid_input", body
    assert client.post(PATH, json={"kind": "refund", "amount": 1, "subject": "x"}
                       ).status_code == 401
    # A cashier, a store manager: no access to central's queue at all.
    cashier = client.get(PATH, headers=basic_auth("cashier-s001", "x"))
    assert cashier.status_code == 401
    manager = client.get(PATH, headers=staff(seeded, "sm-s001"))
    assert manager.status_code == 403 and manager.json["error"] == "role_forbidden"


def test_staff_decide_within_their_level_and_region(central_app, central_db, enrolled,
                                                    seeded):
    client = central_app.test_client()
    pending = ask(client, enrolled).json
    path = f"{PATH}/{pending['id']}/decision"
    # pos-1 is in Moscow: Saint Petersburg's regional manager neither sees nor decides it.
    spb = client.get(PATH, headers=staff(seeded, "rm-spb")).json["authorizations"]
    assert pending["id"] not in [a["id"] for a in spb]
    other = client.post(path, json={"approve": True, "reason": "ok"},
                        headers=staff(seeded, "rm-spb"))
    assert other.status_code == 404
    msk = client.get(PATH, headers=staff(seeded, "rm-msk")).json["authorizations"]
    assert pending["id"] in [a["id"] for a in msk]
    no_reason = client.post(path, json={"approve": True, "reason": ""},
                            headers=staff(seeded, "office"))
    assert no_reason.status_code == 422
    done = client.post(path, json={"approve": False, "reason": "no receipt photo"},
                       headers=staff(seeded, "office"))
    assert done.status_code == 200 and done.json["status"] == "declined", done.json
    again = client.post(path, json={"approve": True, "reason": "changed my mind"},
                        headers=staff(seeded, "admin"))
    assert again.status_code == 409 and again.json["error"] == "authorization_closed"
    with central_db.read() as session:
        entry = session.scalars(select(AuditEntry).where(
            AuditEntry.reference_id == uuid.UUID(pending["id"]))).one()
    assert entry.action == "authorization:declined" and "no receipt photo" in entry.reason


def test_the_till_waiting_hears_the_answer_as_soon_as_it_is_given(live_central, central_app,
                                                                  enrolled, seeded):
    node_id, key = enrolled
    pending = ask(central_app.test_client(), enrolled).json
    path = f"{PATH}/{pending['id']}?wait=20"
    answers = []

    def till():
        headers = signature_headers(node_id, key, "GET", path, b"")
        answers.append(requests.get(live_central + path, headers=headers, timeout=30))

    waiting = threading.Thread(target=till)
    waiting.start()
    decided = requests.post(f"{live_central}{PATH}/{pending['id']}/decision",
                            json={"approve": True, "reason": "checked the receipt"},
                            headers=staff(seeded, "office"), timeout=10)
    assert decided.status_code == 200
    waiting.join(30)
    assert answers[0].status_code == 200 and answers[0].json()["status"] == "approved"
    # Another till cannot read it.
    assert signed(central_app.test_client(), "GET", f"{PATH}/{uuid.uuid4()}", node_id, key
                  ).status_code == 404


def test_unanswered_requests_escalate_then_expire(central_app, central_db, enrolled, seeded):
    client = central_app.test_client()
    with central_db.transaction() as session:
        authorizations.set_policy(session, "refund", None, escalate_after_s=60,
                                  expire_after_s=150)
    pending = ask(client, enrolled).json
    now = utcnow()
    with central_db.transaction() as session:
        assert authorizations.escalate_and_expire(session, now + timedelta(seconds=61)) == \
            {"expired": 0, "escalated": 1}
    with central_db.read() as session:
        assert session.get(Authorization, uuid.UUID(pending["id"])).level == "regional_manager"
    # Central office no longer answers it; the regional manager of Moscow does.
    path = f"{PATH}/{pending['id']}/decision"
    late = client.post(path, json={"approve": True, "reason": "ok"},
                       headers=staff(seeded, "office"))
    assert late.status_code == 403 and late.json["error"] == "not_your_level"
    with central_db.transaction() as session:
        assert authorizations.escalate_and_expire(session, now + timedelta(seconds=151)) == \
            {"expired": 1, "escalated": 0}
    node_id, key = enrolled
    answer = signed(client, "GET", f"{PATH}/{pending['id']}", node_id, key).json
    assert (answer["status"], answer["reason"]) == ("expired", "nobody answered in time")

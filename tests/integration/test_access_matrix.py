"""Who may call what at central, walked from the OpenAPI spec, every operation with every kind
of caller, on both engines. The table below is the intended policy: an endpoint missing from
it fails the first test, so a new one is classified when it is added."""

import re
import uuid

import pytest
from sqlalchemy import select

from kassa.central.access.auth import new_token
from kassa.central.models import User
from tests.helpers import basic_auth

NODE, PUBLIC = "node", "public"
CUSTOMER = "customer"  # a customer's own session (/api/v1/me); no staff credential opens it
PEOPLE = frozenset({"admin", "central_office", "regional_manager", "store_manager"})
CENTRAL_STAFF = frozenset({"admin", "central_office", "regional_manager"})
OPERATORS = frozenset({"admin", "central_office"})

ACCESS = {
    ("POST", "/api/v1/sync/push"): NODE,
    ("GET", "/api/v1/sync/changes"): NODE,
    ("POST", "/api/v1/sync/status"): NODE,
    ("POST", "/api/v1/sync/rotate-key"): NODE,
    ("POST", "/api/v1/sync/restored"): NODE,
    ("GET", "/api/v1/sync/sales/{receipt_no}"): NODE,
    ("GET", "/api/v1/sync/snapshot"): NODE,
    ("POST", "/api/v1/nodes/enroll"): PUBLIC,  # a one-time enrolment code is the credential
    ("GET", "/api/v1/reports/sales-by-store"): PEOPLE,
    ("GET", "/api/v1/reports/reconciliation"): PEOPLE,
    ("GET", "/api/v1/reports/loyalty-overdrafts"): CENTRAL_STAFF,
    ("GET", "/api/v1/nodes/status"): PEOPLE,
    ("POST", "/api/v1/nodes/{node_id}/revoke"): frozenset({"admin"}),
    ("GET", "/api/v1/quarantine"): OPERATORS,
    ("POST", "/api/v1/quarantine/{event_id}/replay"): OPERATORS,
    ("POST", "/api/v1/quarantine/{event_id}/discard"): OPERATORS,
    ("GET", "/api/v1/fraud-alerts"): PEOPLE,
    ("POST", "/api/v1/fraud-alerts/{alert_id}/resolve"): OPERATORS,
    ("POST", "/api/v1/business-days/close"): CENTRAL_STAFF,
    ("POST", "/api/v1/loyalty/holds"): NODE,
    ("POST", "/api/v1/loyalty/holds/{hold_id}/commit"): NODE,
    ("POST", "/api/v1/loyalty/holds/{hold_id}/release"): NODE,
    ("GET", "/api/v1/authorizations"): CENTRAL_STAFF,
    ("POST", "/api/v1/authorizations"): NODE,
    ("GET", "/api/v1/authorizations/{auth_id}"): NODE,
    ("POST", "/api/v1/authorizations/{auth_id}/decision"): CENTRAL_STAFF,
    ("GET", "/api/v1/account/tokens"): PEOPLE,
    ("GET", "/api/v1/users/{user_id}/tokens"): frozenset({"admin"}),
    ("DELETE", "/api/v1/users/{user_id}/tokens/{token_id}"): frozenset({"admin"}),
    ("GET", "/api/v1/account/language"): PEOPLE,
    ("PUT", "/api/v1/account/language"): PEOPLE,
    ("POST", "/api/v1/account/tokens"): PEOPLE,
    ("DELETE", "/api/v1/account/tokens/{token_id}"): PEOPLE,
    ("GET", "/api/v1/audit"): CENTRAL_STAFF,
    ("POST", "/api/v1/cards/{number}/block"): CENTRAL_STAFF,
    ("POST", "/api/v1/cards/{number}/unblock"): CENTRAL_STAFF,
    ("POST", "/api/v1/cards/{number}/replace"): CENTRAL_STAFF,
    ("POST", "/api/v1/products/import"): OPERATORS,
    ("GET", "/api/v1/products/export"): CENTRAL_STAFF,
    ("GET", "/api/v1/products"): PEOPLE,
    ("POST", "/api/v1/products"): OPERATORS,
    ("PATCH", "/api/v1/products/{sku}"): OPERATORS,
    ("GET", "/api/v1/stores"): PEOPLE,
    ("POST", "/api/v1/stores"): OPERATORS,
    ("PATCH", "/api/v1/stores/{store_id}"): CENTRAL_STAFF,
    ("GET", "/api/v1/vat-rates"): PEOPLE,
    ("POST", "/api/v1/vat-rates"): OPERATORS,
    ("PATCH", "/api/v1/vat-rates/{rate_bp}"): OPERATORS,
    ("GET", "/api/v1/prices"): PEOPLE,
    ("POST", "/api/v1/prices"): CENTRAL_STAFF,
    ("DELETE", "/api/v1/prices/{price_id}"): CENTRAL_STAFF,
    ("POST", "/api/v1/prices/import"): CENTRAL_STAFF,
    ("GET", "/api/v1/prices/export"): PEOPLE,
    ("GET", "/api/v1/users"): PEOPLE,
    ("POST", "/api/v1/users"): PEOPLE,
    ("PATCH", "/api/v1/users/{user_id}"): PEOPLE,
    ("GET", "/api/v1/regions"): CENTRAL_STAFF,
    ("POST", "/api/v1/regions"): OPERATORS,
    ("PATCH", "/api/v1/regions/{region_id}"): OPERATORS,
    ("GET", "/api/v1/role-limits"): CENTRAL_STAFF,
    ("PUT", "/api/v1/role-limits/{role}"): OPERATORS,
    ("GET", "/api/v1/promotions"): CENTRAL_STAFF,
    ("POST", "/api/v1/promotions"): OPERATORS,
    ("PATCH", "/api/v1/promotions/{promotion_id}"): OPERATORS,
    ("GET", "/api/v1/loyalty-rules"): CENTRAL_STAFF,
    ("PATCH", "/api/v1/loyalty-rules"): OPERATORS,
    ("GET", "/api/v1/loyalty-rules/versions"): CENTRAL_STAFF,
    ("POST", "/api/v1/nodes"): OPERATORS,
    ("POST", "/api/v1/nodes/{node_id}/reenroll"): frozenset({"admin"}),
    ("POST", "/api/v1/customers/{customer_id}/block"): CENTRAL_STAFF,
    ("POST", "/api/v1/customers/{customer_id}/unblock"): CENTRAL_STAFF,
    ("GET", "/api/v1/customers"): PEOPLE,
    ("POST", "/api/v1/customers"): PEOPLE,
    ("GET", "/api/v1/customers/{customer_id}"): PEOPLE,
    ("PATCH", "/api/v1/customers/{customer_id}"): PEOPLE,
    ("POST", "/api/v1/customers/{customer_id}/documents"): PEOPLE,
    ("PUT", "/api/v1/customers/{customer_id}/consents/{channel}"): PEOPLE,
    ("POST", "/api/v1/customers/{customer_id}/interactions"): PEOPLE,
    ("POST", "/api/v1/customers/{customer_id}/points-adjustments"): PEOPLE,
    ("GET", "/api/v1/customers/{customer_id}/receipts/{receipt_no}"): PEOPLE,
    ("POST", "/api/v1/interactions"): PEOPLE,
    ("POST", "/api/v1/interactions/import"): PEOPLE,
    ("POST", "/api/v1/history/import"): OPERATORS,
    ("POST", "/api/v1/customers/import"): OPERATORS,
    ("GET", "/api/v1/company"): PEOPLE,
    ("PUT", "/api/v1/company"): OPERATORS,
    ("GET", "/api/v1/analytics/segment-map"): PEOPLE,
    ("PUT", "/api/v1/analytics/segment-map"): OPERATORS,
    ("GET", "/api/v1/analytics/offer-settings"): PEOPLE,
    ("PATCH", "/api/v1/analytics/offer-settings"): OPERATORS,
    ("GET", "/api/v1/analytics/segments"): CENTRAL_STAFF,
    ("GET", "/api/v1/analytics/lifetime-runs"): CENTRAL_STAFF,
    ("GET", "/api/v1/analytics/demand"): PEOPLE,
    ("GET", "/api/v1/customers/duplicates"): CENTRAL_STAFF,
    ("POST", "/api/v1/customers/{customer_id}/merge"): OPERATORS,
    ("GET", "/api/v1/customers/{customer_id}/export"): CENTRAL_STAFF,
    ("POST", "/api/v1/customers/{customer_id}/anonymize"): OPERATORS,
    ("GET", "/api/v1/tasks"): PEOPLE,
    ("GET", "/api/v1/reports/sales"): PEOPLE,
    ("GET", "/api/v1/reports/points"): PEOPLE,
    ("GET", "/api/v1/reports/authorizations"): PEOPLE,
    ("GET", "/api/v1/reports/leads"): PEOPLE,
    ("GET", "/api/v1/reports/tasks"): PEOPLE,
    ("GET", "/api/v1/reports/offers"): PEOPLE,
    ("GET", "/api/v1/tasks/{task_id}"): PEOPLE,
    ("PATCH", "/api/v1/tasks/{task_id}"): PEOPLE,
    ("GET", "/api/v1/notifications"): PEOPLE,
    ("POST", "/api/v1/notifications/{notification_id}/read"): PEOPLE,
    ("GET", "/api/v1/task-rules"): CENTRAL_STAFF,
    ("PUT", "/api/v1/task-rules/{trigger}"): OPERATORS,
    ("POST", "/api/v1/public/leads"): PUBLIC,  # the website's form: rate-limited, bot-guarded
    ("POST", "/api/v1/me/sign-in"): PUBLIC,  # card number + web PIN; rate-limited, lockout
    ("POST", "/api/v1/me/code"): PUBLIC,  # mails a sign-in code; the same answer for all
    ("POST", "/api/v1/me/web-pin"): PUBLIC,  # the mailed code sets the PIN; as a code sign-in
    ("POST", "/api/v1/me/sign-out"): PUBLIC,
    ("GET", "/api/v1/me"): CUSTOMER,
    ("GET", "/api/v1/me/purchases"): CUSTOMER,
    ("GET", "/api/v1/me/points"): CUSTOMER,
    ("GET", "/api/v1/me/offers"): CUSTOMER,
    ("GET", "/api/v1/me/receipts/{receipt_no}"): CUSTOMER,  # their own receipts only
    ("PUT", "/api/v1/me/consents/{channel}"): CUSTOMER,
    ("POST", "/api/v1/me/lost-card"): CUSTOMER,
}
CALLERS = {"admin": "admin", "central_office": "office", "regional_manager": "rm-msk",
           "store_manager": "sm-s001", "cashier": "cashier-s001", "nobody": None}
PARAMS = {"receipt_no": "pos-1-00000001", "node_id": "pos-2", "event_id": "1",
          "hold_id": str(uuid.uuid4()), "alert_id": str(uuid.uuid4()),
          "auth_id": str(uuid.uuid4()), "token_id": "2147483647",
          "number": "7770000000000001", "store_id": "1", "price_id": "2147483647",
          "user_id": "2147483647", "region_id": "2147483647", "role": "no-such-role",
          "promotion_id": "2147483647", "customer_id": str(uuid.uuid4()),
          "sku": "no-such-sku", "channel": "email", "task_id": str(uuid.uuid4()),
          "notification_id": "2147483647", "trigger": "web_lead", "rate_bp": "9999"}


def operations(app) -> set[tuple[str, str]]:
    spec = app.test_client().get("/api/openapi.json").json
    return {(method.upper(), path) for path, ops in spec["paths"].items()
            for method in ops if method in ("get", "post", "put", "patch", "delete")}


def test_every_endpoint_has_an_access_rule(central_app):
    assert operations(central_app) == set(ACCESS)


@pytest.mark.parametrize("caller", sorted(CALLERS))
def test_each_kind_of_caller_gets_exactly_what_the_table_says(central_app, central_db, seeded,
                                                             caller):
    client = central_app.test_client()
    username = CALLERS[caller]
    headers = {}
    if username and seeded["users"][username]["password"]:
        # An API token of the user: HTTP Basic runs argon2 on every request (on purpose), most
        # of this test's time over a hundred and more operations.
        with central_db.transaction() as session:
            user = session.scalars(select(User).where(User.username == username)).one()
            headers = {"Authorization": f"Bearer {new_token(session, user, 'matrix')[1]}"}
    elif username:  # a cashier has no password: what Basic with a wrong one gets
        headers = basic_auth(username, "no password")
    wrong = []
    for (method, path), rule in sorted(ACCESS.items()):
        if rule == PUBLIC:
            continue
        url = re.sub(r"\{(\w+)\}", lambda m: PARAMS[m.group(1)], path)
        resp = client.open(url, method=method, headers=headers,
                           json={} if method in ("POST", "PUT", "PATCH") else None)
        if rule in (NODE, CUSTOMER) or caller in ("cashier", "nobody"):
            expected = "401"  # people cannot act as a till; cashiers have no access at all
            ok = resp.status_code == 401
        elif caller in rule:
            expected = "allowed"
            ok = resp.status_code not in (401, 403)
        else:
            expected = "403"
            ok = resp.status_code == 403 and resp.json["error"] == "role_forbidden"
        if not ok:
            wrong.append(f"{method} {path}: {caller} expected {expected}, "
                         f"got {resp.status_code}")
    assert wrong == []


# A valid body for each regional operation, so that only the region can stop it.
BODIES = {
    ("PATCH", "/api/v1/stores/{store_id}"): {"name": "Taken over"},
    ("PATCH", "/api/v1/users/{user_id}"): {"full_name": "Taken over"},
    ("POST", "/api/v1/customers/{customer_id}/block"): {"reason": "taken over"},
    ("POST", "/api/v1/cards/{number}/block"): {"reason": "fraud"},
    ("POST", "/api/v1/cards/{number}/replace"): {},
    ("POST", "/api/v1/customers/{customer_id}/points-adjustments"): {"points": 100,
                                                                     "reason": "taken over"},
    ("POST", "/api/v1/authorizations/{auth_id}/decision"): {"approve": True,
                                                            "reason": "taken over"},
    ("PUT", "/api/v1/customers/{customer_id}/consents/{channel}"): {"granted": True},
    ("POST", "/api/v1/customers/{customer_id}/interactions"): {"channel": "call",
                                                               "subject": "taken over"},
    ("POST", "/api/v1/customers/{customer_id}/merge"): {"other_id": "spb_customer"},
    ("PATCH", "/api/v1/tasks/{task_id}"): {"status": "done", "comment": "taken over"},
    ("PATCH", "/api/v1/customers/{customer_id}"): {"name": "Taken over"},
    ("POST", "/api/v1/customers/{customer_id}/documents"): {
        "kind": "quote", "items": [{"sku": "1001", "quantity": 1}]},
}


def moscow_ids(central_db, key_dir) -> dict[str, str]:
    """Ids of things in region MSK, one per URL parameter a regional manager may use."""
    from sqlalchemy import select

    from kassa.central.access import authorizations
    from kassa.central.access.auth import new_token
    from kassa.central.catalog import prices
    from kassa.central.crm import tasks
    from kassa.central.membership import cards
    from kassa.central.models import Customer, LoyaltyAccount, Product, Region, Store, User

    with central_db.transaction() as s:
        msk = s.scalars(select(Region).where(Region.code == "MSK")).one()
        store = s.scalars(select(Store).where(Store.code == "S001")).one()
        milk = s.scalars(select(Product).where(Product.sku == "1001")).one()
        anna = s.scalars(select(Customer).where(Customer.home_store_id == store.id)).first()
        account = s.scalars(select(LoyaltyAccount).where(
            LoyaltyAccount.customer_id == anna.id)).one()
        cards.issue(s, account, key_dir)
        card = anna.card_number  # the new card's
        return {
            "store_id": str(store.id),
            "price_id": str(prices.set_price(s, milk, 100, region=msk).id),
            "user_id": str(s.scalars(select(User.id).where(User.username == "cashier-s001")
                                     ).one()),
            "customer_id": str(anna.id),
            "channel": "email",
            # Saint Petersburg's own customer, for a merge of Moscow's into it
            "spb_customer": str(s.scalars(select(Customer.id).where(
                Customer.home_store_id != store.id)).first()),
            "number": card,
            "receipt_no": "pos-1-00000001",  # no such receipt of hers: refused before that
            "auth_id": str(authorizations.request(s, "pos-1", "refund", 99_999_999,
                                                  "receipt pos-1-00000001").id),
            "task_id": str(tasks.open_task(s, "complaint", customer=anna,
                                           store_id=store.id).id),
            # The Moscow manager's own notice and API token: nobody else's to read or revoke.
            "notification_id": str(_notice(s, "rm-msk")),
            "token_id": str(new_token(s, s.scalars(select(User).where(
                User.username == "rm-msk")).one(), "reports")[0].id),
        }


def _notice(session, username: str) -> int:
    from sqlalchemy import select

    from kassa.central.models import Notification, User
    user = session.scalars(select(User).where(User.username == username)).one()
    row = Notification(user_id=user.id, text="for them only")
    session.add(row)
    session.flush()
    return row.id


def test_another_regions_ids_are_out_of_reach(central_app, central_db, seeded, tmp_path):
    """Every operation a regional manager may call with an id in its URL, called by Saint
    Petersburg's manager with Moscow's ids: 403 or 404, and nothing changed."""
    ids = moscow_ids(central_db, tmp_path)
    client = central_app.test_client()
    headers = basic_auth("rm-spb", seeded["users"]["rm-spb"]["password"])
    walked, wrong = [], []
    for (method, path), rule in sorted(ACCESS.items()):
        params = re.findall(r"\{(\w+)\}", path)
        if rule in (NODE, PUBLIC) or "regional_manager" not in rule or not params:
            continue
        url = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)
        body = {k: ids.get(v, v) if isinstance(v, str) else v
                for k, v in BODIES.get((method, path), {}).items()}
        resp = client.open(url, method=method, headers=headers,
                           json=body if method != "DELETE" else None)
        walked.append(f"{method} {path}")
        if resp.status_code not in (403, 404):
            wrong.append(f"{method} {path}: {resp.status_code} {resp.get_json()}")
    assert wrong == []
    assert len(walked) == 21, walked
    office = basic_auth("office", seeded["users"]["office"]["password"])
    stores = client.get("/api/v1/stores", headers=office).json["stores"]
    assert "Taken over" not in {s["name"] for s in stores}


def test_no_change_on_a_remembered_password_a_form_could_send(central_app, seeded):
    """Every operation that changes something, posted as a page on another site could make a
    browser post it (an empty form, text/plain, no type) with the admin's password a browser
    would remember: refused before it runs (403 ``csrf_failed``); and no 401 anywhere asks a
    browser for a password."""
    client = central_app.test_client()
    admin = basic_auth("admin", seeded["users"]["admin"]["password"])
    wrong, walked = [], 0
    for (method, path), rule in sorted(ACCESS.items()):
        url = re.sub(r"\{(\w+)\}", lambda m: PARAMS[m.group(1)], path)
        anonymous = client.open(url, method=method)
        if anonymous.status_code == 401 and "WWW-Authenticate" in anonymous.headers:
            wrong.append(f"{method} {path}: a password challenge")
        if method != "POST" or rule in (NODE, PUBLIC, CUSTOMER):
            continue
        walked += 1
        for kind in ("application/x-www-form-urlencoded", "text/plain", None):
            resp = client.post(url, headers=admin, data=b"", content_type=kind)
            if (resp.status_code, (resp.get_json() or {}).get("error")) != (403, "csrf_failed"):
                wrong.append(f"{method} {path} as {kind}: {resp.status_code}")
    assert wrong == []
    assert walked >= 34, walked

"""Generated input against both apps' OpenAPI (schemathesis strategies driven by hypothesis):
no input gets a 500.

The till is fuzzed signed in with a shift open, so requests reach the validation and service
code behind the sign-in wall; central's reports as the central-office user. Bounded example
counts keep this inside the suite's budget.
"""


import schemathesis
from hypothesis import HealthCheck, given, settings
from sqlalchemy import select

from kassa.central.auth import new_token
from kassa.central.models import User
from tests.helpers import basic_auth

FUZZ = settings(max_examples=12, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


def fuzz_every_operation(app, **call_kwargs) -> list[str]:
    """Call every operation with generated cases; return the ones that answered 500."""
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @FUZZ
        @given(case=operation.as_strategy())
        def run(case):
            response = case.call(**call_kwargs)
            if response.status_code == 500:  # 503 "central unreachable" is an answer
                failures.append(f"{case.operation.label}: {response.status_code} for "
                                f"{case.path_parameters} {case.query} {case.body!r}"[:500])
        run()
    return failures


def test_the_till_never_answers_500(node_app, till):
    cookie = till.get_cookie("kassa_till").value
    assert fuzz_every_operation(node_app, cookies={"kassa_till": cookie}) == []


def test_central_never_answers_500(central_app, central_db, seeded):
    # An API token, not the password: HTTP Basic runs argon2 on every request (on purpose),
    # which was most of this test's time with a thousand requests.
    with central_db.transaction() as session:
        office = session.scalars(select(User).where(User.username == "office")).one()
        _token, secret = new_token(session, office, "fuzz")
    assert fuzz_every_operation(central_app,
                                headers={"Authorization": f"Bearer {secret}"}) == []


def test_nul_characters_are_refused_everywhere(central_app, seeded):
    """PostgreSQL stores no NUL character: a body, a query or a path with one is a 422."""
    client = central_app.test_client()
    office = basic_auth("office", seeded["users"]["office"]["password"])
    for method, url, body in [
            ("POST", "/api/v1/products", {"sku": "n1", "name": "a\x00b", "vat_rate_bp": 0,
                                          "price_minor": 1}),
            ("GET", "/api/v1/prices?sku=a%00b", None),
            ("PATCH", "/api/v1/products/a%00b", {"name": "x"})]:
        resp = client.open(url, method=method, json=body, headers=office)
        assert (resp.status_code, resp.json["error"]) == (422, "bad_characters"), url
    csv_body = "sku,name,vat_rate_bp,unit,category,barcodes,price,active\nx,a\x00,0,pcs,,,1,1\n"
    resp = client.post("/api/v1/products/import", data=csv_body.encode(),
                       content_type="text/csv", headers=office)
    assert resp.status_code == 422 and resp.json["error"] == "bad_characters"

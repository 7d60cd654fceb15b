"""Generated input against both apps' OpenAPI (schemathesis strategies driven by hypothesis):
no input gets a 500, and every answer is one the document promises: a documented status code,
a documented content type and a body matching the documented schema (errors included).

The till is fuzzed signed in with a shift open, so requests reach the validation and service
code behind the sign-in wall; central's reports as the central-office user. Bounded example
counts keep this inside the suite's budget.
"""

import gzip
import os
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import Failure, FailureGroup
from sqlalchemy import select

from kassa.central.access.auth import new_token
from kassa.central.models import User
from kassa.common.signing import signature_headers
from tests.helpers import basic_auth

# Examples an operation: this file took 32 s at 12, 63 s at 20, 84 s at 30 (2 cores, shared);
# 60 found nothing more than 30 and took the three fuzz tests 160 s. The suite runs 12 (its
# budget is 10 minutes on this machine), `make soak` 60.
FUZZ = settings(max_examples=60 if os.environ.get("KASSA_SOAK") == "full" else 12,
                deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
# Not schemathesis' not_a_server_error: a documented 503 ("central unreachable") is an answer.
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]


def fuzz_every_operation(app, **call_kwargs) -> list[str]:
    """Call every operation with generated cases; return one line per distinct broken promise
    (a 500, an undocumented status or content type, a body off its schema)."""
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    failures: dict[tuple, str] = {}
    for result in schema.get_all_operations():
        operation = result.ok()

        @FUZZ
        @given(case=operation.as_strategy())
        def run(case):
            response = case.call(**call_kwargs)
            broken = [("Server error", "")] if response.status_code == 500 else []
            try:
                case.validate_response(response, checks=CHECKS)
            except (Failure, FailureGroup) as err:
                broken += [(f.title, f.message.split("\n")[0])
                           for f in getattr(err, "exceptions", [err])]
            for title, what in broken:  # the first example of each kind of broken promise
                failures.setdefault((case.operation.label, title, response.status_code), (
                    f"{case.operation.label} [{response.status_code}] {title}: {what} -- for "
                    f"{case.path_parameters} {case.query} {case.body!r} -> "
                    f"{response.text[:200]}")[:600])
        run()
    return sorted(failures.values())


@pytest.mark.soak
def test_the_till_answers_as_documented(node_app, till):
    cookie = till.get_cookie("kassa_till").value
    broken = fuzz_every_operation(node_app, cookies={"kassa_till": cookie})
    assert broken == [], "\n\n".join(broken)


@pytest.mark.soak
def test_central_answers_as_documented(central_app, central_db, seeded):
    # An API token, not the password: HTTP Basic runs argon2 on every request (on purpose),
    # which was most of this test's time with a thousand requests.
    with central_db.transaction() as session:
        office = session.scalars(select(User).where(User.username == "office")).one()
        _token, secret = new_token(session, office, "fuzz")
    broken = fuzz_every_operation(central_app, headers={"Authorization": f"Bearer {secret}"})
    assert broken == [], "\n\n".join(broken)


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


def test_answers_generated_input_seldom_reaches_are_documented(central_app, seeded):
    """CSV downloads, an import refused before its rows are read, the web form's rate limit:
    each answer checked against the document like the generated ones."""
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", central_app)
    client = central_app.test_client()
    office = basic_auth("office", seeded["users"]["office"]["password"])
    form = {"json": {"name": "Ann", "phone": "+3725550100"}}
    for method, path, request, status in [
            ("GET", "/api/v1/reports/sales", {"query_string": {"format": "csv"}}, 200),
            ("GET", "/api/v1/audit", {"query_string": {"format": "csv"}}, 200),
            ("GET", "/api/v1/products/export", {}, 200),
            ("POST", "/api/v1/products/import", {"data": b"sku\n\xff", "content_type": "text/csv"},
             422),
            *[("POST", "/api/v1/public/leads", form, 202)] * 5,
            ("POST", "/api/v1/public/leads", form, 429)]:
        resp = client.open(path, method=method, headers={} if "public" in path else office,
                           **request)
        assert resp.status_code == status, (path, resp.get_data(as_text=True)[:300])
        schema[path][method].Case().validate_response(resp, checks=CHECKS)


DEEP = b"[" * 100_000 + b"]" * 100_000
LONE_SURROGATE = b'{"name": "\\ud800", "username": "a\\udfff", "pin": "1234"}'


def _every_write_route(app) -> list[tuple[str, str]]:
    """(method, path) of every rule taking a body, path parameters filled with a likely value."""
    routes = []
    for rule in app.url_map.iter_rules():
        path = rule.rule
        for name, converter in rule._converters.items():
            sample = {"UUIDConverter": "00000000-0000-4000-8000-000000000001",
                      "IntegerConverter": "1"}.get(type(converter).__name__, "x")
            path = re.sub(rf"<[^>]*{name}>", sample, path)
        routes += [(method, path) for method in sorted(rule.methods or ())
                   if method in ("POST", "PUT", "PATCH")]
    return routes


def _refused(client, routes, headers=None) -> list[str]:
    wrong = []
    for method, path in routes:
        for body in (DEEP, LONE_SURROGATE, gzip.compress(DEEP)):
            extra = {"Content-Encoding": "gzip"} if body[:2] == b"\x1f\x8b" else {}
            resp = client.open(path, method=method, data=body, content_type="application/json",
                               headers={**(headers or {}), **extra})
            if (resp.status_code, (resp.json or {}).get("error")) != (400, "invalid_json"):
                wrong.append(f"{method} {path} {body[:12]!r}: {resp.status_code} "
                             f"{resp.get_data(as_text=True)[:120]}")
    return wrong


def test_bodies_no_parser_should_meet_are_refused_on_every_route_of_central(
        central_app, seeded):
    """A JSON body nested 100,000 deep (plain or gzipped) or holding a lone surrogate: 400
    ``invalid_json`` from every route that takes a body, the public form and the pages
    included, signed in or not (it was a 500)."""
    routes = _every_write_route(central_app)
    assert ("POST", "/api/v1/public/leads") in routes and ("POST", "/ops/signin") in routes
    client = central_app.test_client()
    assert _refused(client, routes) == []
    office = basic_auth("office", seeded["users"]["office"]["password"])
    assert _refused(client, routes, office) == []


def test_bodies_no_parser_should_meet_are_refused_on_every_route_of_the_till(node_app):
    routes = _every_write_route(node_app)
    assert ("POST", "/api/v1/session") in routes
    assert _refused(node_app.test_client(), routes) == []


def test_a_signed_push_too_deep_or_with_a_lone_surrogate_is_refused(central_app, enrolled):
    node_id, key = enrolled
    client = central_app.test_client()
    event = (b'{"node_id": "pos-1", "events": [{"seq": 1, "id": '
             b'"00000000-0000-4000-8000-000000000001", "type": "customer.registered", '
             b'"payload": {"name": "\\ud800"}}]}')
    for raw in (DEEP, event):
        resp = client.post("/api/v1/sync/push", data=raw, headers={
            "Content-Type": "application/json",
            **signature_headers(node_id, key, "POST", "/api/v1/sync/push", raw)})
        assert (resp.status_code, resp.json["error"]) == (400, "invalid_json")

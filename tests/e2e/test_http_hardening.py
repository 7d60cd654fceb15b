"""Central and a till as served (gunicorn, real loopback HTTP, a real browser): bodies sent
chunked past the limit are refused whole, a forwarded scheme is believed only from a proxy
that KASSA_TRUSTED_PROXIES names, every answer carries the security headers, and every page
works under the Content-Security-Policy (no script of ours is refused by it).
"""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import expect

from kassa.common.runtime.processes import Supervisor
from kassa.common.web import SECURITY_HEADERS
from tests.e2e.conftest import KASSA
from tests.e2e.test_till_ui import ready, sign_in_and_open_shift
from tests.helpers import free_port

pytestmark = pytest.mark.e2e

CENTRAL_LIMIT = 16 * 1024 * 1024
TILL_LIMIT = 2 * 1024 * 1024


def _chunked_post(base: str, path: str, size: int) -> tuple[int, dict]:
    """POST a JSON body of ``size`` bytes in chunks, with no Content-Length (as a client
    streaming it sends it); the answer's status and body."""
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    head = b'{"name": "Ann", "phone": "+3725550100", "message": "'
    tail = b'"}'
    filler = size - len(head) - len(tail)

    def chunks():
        yield head
        left = filler
        while left > 0:
            n = min(left, 256 * 1024)
            yield b"x" * n
            left -= n
        yield tail

    try:
        conn.request("POST", path, body=chunks(), encode_chunked=True,
                     headers={"Content-Type": "application/json",
                              "Transfer-Encoding": "chunked"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()


def test_chunked_bodies_past_the_limit_are_refused_whole(stack):
    """Over the limit: 413 ``payload_too_large`` (it was a 400, the body cut at the limit and
    parsed as if whole). Under it, the same way of sending is served."""
    status, body = _chunked_post(stack["central"], "/api/v1/public/leads", CENTRAL_LIMIT + 4096)
    assert (status, body["error"]) == (413, "payload_too_large")
    status, body = _chunked_post(stack["node"], "/api/v1/session", TILL_LIMIT + 4096)
    assert (status, body["error"]) == (413, "payload_too_large")
    status, body = _chunked_post(stack["central"], "/api/v1/public/leads", 6000)
    assert status == 422 and body["error"] == "invalid_input"  # read whole: message too long
    status, body = _chunked_post(stack["central"], "/api/v1/public/leads", 1000)
    assert (status, body) == (202, {"received": True})


def _cookie_of_signin(base: str) -> str:
    resp = requests.get(f"{base}/ops/signin", headers={"X-Forwarded-Proto": "https"},
                        timeout=10)
    assert resp.status_code == 200
    return resp.headers["Set-Cookie"]


def test_a_forwarded_scheme_counts_only_from_a_trusted_proxy(stack, tmp_path):
    """With KASSA_TRUSTED_PROXIES=0 a request from loopback saying ``X-Forwarded-Proto:
    https`` is plain HTTP to the app (gunicorn believed it: the session cookie came back
    Secure); with 1, it is what the proxy says."""
    assert "secure" not in _cookie_of_signin(stack["central"]).lower()
    sup = Supervisor(tmp_path / "logs")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    try:
        sup.start("central", KASSA + ["central", "serve", "--port", str(port)], {
            "KASSA_CENTRAL_DB": stack["central_db"], "KASSA_TRUSTED_PROXIES": "1",
            "KASSA_CENTRAL_JOBS": "off", "KASSA_BACKUP": "off"})
        sup.wait_http("central", base + "/health")
        assert "; secure" in _cookie_of_signin(base).lower()
    finally:
        sup.stop_all()


def test_every_answer_carries_the_security_headers(stack):
    for url in (f"{stack['central']}/ops/signin", f"{stack['central']}/api/v1/customers",
                f"{stack['central']}/no/such/page", f"{stack['central']}/ops/static/ops.js",
                f"{stack['central']}/health", f"{stack['node']}/",
                f"{stack['node']}/api/v1/status", f"{stack['node']}/static/till.js"):
        resp = requests.get(url, timeout=10)
        assert {name: resp.headers.get(name) for name in SECURITY_HEADERS} == \
            SECURITY_HEADERS, url
    assert "frame-ancestors 'none'" in SECURITY_HEADERS["Content-Security-Policy"]
    assert "script-src 'self';" in SECURITY_HEADERS["Content-Security-Policy"]


def _watch(page) -> list[str]:
    """What the browser refused under the policy, and any script error, as it happens."""
    seen: list[str] = []
    page.on("console", lambda msg: seen.append(msg.text) if msg.type == "error" and (
        "Content Security Policy" in msg.text) else None)
    page.on("pageerror", lambda err: seen.append(str(err)))
    return seen


CENTRAL_PAGES = ("nodes", "authorizations", "audit", "customers", "reports", "analytics",
                 "masterdata", "quarantine", "password")


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_central_pages_work_under_the_policy(stack, page, lang):
    refused = _watch(page)
    page.goto(f"{stack['central']}/ops/signin?lang={lang}")
    page.locator("input[name=username]").click()
    page.keyboard.type("admin")
    page.locator("input[name=password]").click()
    page.keyboard.type(stack["users"]["admin"]["password"])
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/ops/signin" not in url)
    for name in CENTRAL_PAGES:
        page.goto(f"{stack['central']}/ops/{name}")
        expect(page.locator("body[data-ready]")).to_have_count(1)
        page.wait_for_load_state("networkidle")
        if name == "reports":  # the chart library draws under the policy
            expect(page.locator(".main-svg").first).to_be_attached()
        if name == "masterdata":  # its role, read from a data block, shows the admin's tabs
            expect(page.locator("#md-tabs")).to_be_visible()
    page.goto(f"{stack['central']}/my/")
    page.wait_for_load_state("networkidle")
    assert refused == []


def test_till_pages_work_under_the_policy(stack, page):
    """Sign-in and opening a shift by the keyboard (the forms' scripts, no inline handler),
    a scan, the customer display showing it."""
    refused = _watch(page)
    sign_in_and_open_shift(page, stack)
    page.keyboard.type("1001")
    page.keyboard.press("Enter")
    expect(page.locator("#cart tbody tr")).to_have_count(1)
    display = page.context.new_page()
    display_refused = _watch(display)
    display.goto(f"{stack['node']}/display")
    expect(display.locator("#d-cart")).to_be_visible()  # its script polls and shows the cart
    page.goto(stack["node"] + "/")
    ready(page)
    assert refused == [] and display_refused == []

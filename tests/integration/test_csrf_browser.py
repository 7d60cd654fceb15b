"""A page on another site cannot borrow a browser (issue 23, finding 2), in a real headless
Chromium, central on both engines: the admin's password remembered by the browser, or the
admin signed in, or a cashier signed in at the till, and a page served from another port
posting empty forms (and a no-cors fetch) to revoke a till, lift a fraud block and make the
till sync. Nothing happens; each answer is 403 csrf_failed."""

from __future__ import annotations

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from playwright.sync_api import expect, sync_playwright
from sqlalchemy import select
from werkzeug.serving import make_server

from kassa.central.models import Customer, Node
from tests.helpers import CHROMIUM_ARGS


def _serve(html: str):
    """The other site: one page, on its own port."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def live_till(node_app):
    server = make_server("127.0.0.1", 0, node_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def _attack_page(targets: list[str]) -> str:
    forms = "".join(f'<iframe name="f{i}"></iframe><form method="POST" action="{url}" '
                    f'target="f{i}"></form>' for i, url in enumerate(targets))
    fetches = "".join(f'fetch("{url}", {{method: "POST", mode: "no-cors", '
                      f'credentials: "include"}});' for url in targets)
    return (f"<!doctype html><title>Win a prize</title>{forms}<script>{fetches}"
            "for (const f of document.forms) f.submit();</script>")


def test_another_site_cannot_borrow_the_browser(live_central, live_till, central_db, seeded,
                                                pins):
    admin = ("admin", seeded["users"]["admin"]["password"])
    with central_db.read() as s:
        anna = s.scalars(select(Customer).where(Customer.name == "Anna Petrova")).one().id
    blocked = requests.post(f"{live_central}/api/v1/customers/{anna}/block", auth=admin,
                            json={"reason": "fraud"}, timeout=10)
    assert blocked.status_code == 200, blocked.text
    targets = [f"{live_central}/api/v1/nodes/pos-2/revoke",
               f"{live_central}/api/v1/customers/{anna}/unblock",
               f"{live_till}/api/v1/node/sync"]
    other_site = _serve(_attack_page(targets))
    evil = f"http://127.0.0.1:{other_site.server_port}/"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            try:
                # 1. The admin's password remembered for central (as a browser keeps one it
                #    was once asked for): sent with every request to central, whoever asks.
                remembered = browser.new_context()
                basic = "Basic " + base64.b64encode(":".join(admin).encode()).decode()
                remembered.route(f"{live_central}/**", lambda route: route.continue_(
                    headers={**route.request.headers, "authorization": basic}))
                _visit(remembered, evil, targets[:2])
                # 2. The admin signed in on central's pages (a session cookie, SameSite=Strict:
                #    another port of the same host is the same site, so it is sent).
                signed_in = browser.new_context()
                page = signed_in.new_page()
                page.goto(f"{live_central}/ops/signin")
                page.click("input[name=username]")
                page.keyboard.type(admin[0])
                page.click("input[name=password]")
                page.keyboard.type(admin[1])
                page.keyboard.press("Enter")
                expect(page).to_have_url(f"{live_central}/ops/nodes")
                _visit(signed_in, evil, targets[:2])
                # 3. A cashier signed in at the till.
                till = browser.new_context()
                page = till.new_page()
                page.goto(f"{live_till}/")
                page.click("#username")
                page.keyboard.type("cashier-s001")
                page.click("#pin")
                page.keyboard.type(pins["cashier-s001"])
                page.keyboard.press("Enter")
                expect(page.locator("h1")).to_have_text("Open a shift")
                _visit(till, evil, targets[2:])
            finally:
                browser.close()
    finally:
        other_site.shutdown()
    with central_db.read() as s:
        assert s.get(Node, "pos-2").active
        assert s.get(Customer, anna).blocked_at is not None


def _visit(context, evil: str, targets: list[str]) -> None:
    """Open the other site's page and wait for every post it makes: all refused."""
    answers: dict[str, list] = {url: [] for url in targets}

    def seen(response):
        if response.url in answers and response.request.method == "POST":
            answers[response.url].append(response)

    page = context.new_page()
    page.on("response", seen)
    page.goto(evil)
    for _ in range(150):  # Playwright's events arrive while it waits
        if all(len(a) >= 2 for a in answers.values()):  # the form's and the fetch's
            break
        page.wait_for_timeout(100)
    assert all(len(a) >= 2 for a in answers.values()), answers
    for url, got in answers.items():
        for response in got:
            assert response.status == 403, (url, response.status)
            # A fetch's answer is opaque, and a frame's is not shown where the app forbids
            # framing (X-Frame-Options: DENY); else the page says why.
            if (response.request.resource_type == "document"
                    and "x-frame-options" not in response.headers):
                assert "csrf_failed" in response.text(), url
    page.close()

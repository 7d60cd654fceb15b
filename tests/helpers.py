"""Small helpers the tests share: signed requests through a Flask test client, node set-up."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import signal
import socket
import stat as stat_mode
import time
from pathlib import Path

from sqlalchemy import func, select

from kassa.common.db import Database
from kassa.common.signing import signature_headers
from kassa.pos_node.models import NodeIdentity

# Headless Debian Chromium for Playwright: quiet, no sandbox (we run as root in CI).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]


def signed(client, method: str, path: str, node_id: str, key_pem: str, body: dict | None = None,
           *, stamp: int | None = None, compress: bool = True, tamper: bool = False,
           nonce: str | None = None):
    raw = b""
    headers = {}
    if body is not None:
        raw = json.dumps(body, default=str).encode()
        if compress:
            raw = gzip.compress(raw)
            headers["Content-Encoding"] = "gzip"
        headers["Content-Type"] = "application/json"
    headers.update(signature_headers(node_id, key_pem, method, path, raw, stamp=stamp,
                                     nonce=nonce))
    if tamper:
        raw = gzip.compress(json.dumps({**body, "tampered": True}).encode()) if compress else \
            raw + b" "
    return client.open(path, method=method, data=raw, headers=headers)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def staff_auth(secrets: dict, username: str, password: str | None = None) -> dict[str, str]:
    """HTTP Basic headers for a demo user (``secrets`` as the demo seed returns them)."""
    return basic_auth(username, password or secrets["users"][username]["password"])


def basic_auth(username: str, password: str) -> dict[str, str]:
    """The header a person's request to central carries (HTTP Basic)."""
    import base64
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def count(db: Database, model) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(model))


def install_identity(db: Database, node_id: str, store_id: int, key_pem: str,
                     central_url: str = "http://127.0.0.1:9") -> None:
    with db.transaction() as session:
        session.add(NodeIdentity(node_id=node_id, store_id=store_id, central_url=central_url,
                                 private_key_pem=key_pem, feed_cursor=0))


def wait_until(predicate, timeout: float = 20.0, step: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes; returns its last value."""
    import threading
    end = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < end:
        if predicate():
            return True
        pause.wait(step)
    return bool(predicate())


def sign_in_central(page, base_url: str, username: str, password: str) -> None:
    """Sign in on central's web form in a Playwright page (a session cookie from now on)."""
    page.goto(f"{base_url}/ops/signin")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("#signin button[type=submit]")
    page.wait_for_url(lambda url: "/ops/signin" not in url)


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and every process it started, however deep, whatever their session
    (``kassa``'s supervisors start each child in a session of its own)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    todo, tree = [pid], []
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    for member in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, signal.SIGKILL)


def process_group(pgid: int) -> list[int]:
    """The live processes of process group ``pgid`` (a supervised child and what it forked:
    gunicorn's master and its workers), leader first."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return sorted(members, key=lambda pid: pid != pgid)


def rss_kib(pid: int) -> int | None:
    """The resident set size of ``pid`` in KiB (VmRSS in /proc/pid/status); None if gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def percentile(values, q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q <= 100) of ``values``; 0.0 when empty."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = max(1, -(-len(ordered) * q // 100))  # ceil without floats drifting
    return ordered[int(rank) - 1]


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def point_a_rouble(central_db: Database, **changes) -> dict:
    """Central's loyalty rules become a point for each rouble of a receipt at every tier (each
    point paying a rouble), changed by ``changes``: for tests that count points on small
    receipts (the demo's rules give a few per cent back). Tills get them at their next pull.
    Returns the document set."""
    from kassa.central.membership import loyalty_rules
    from kassa.loyalty import settings
    document = {**settings.DEFAULT, "minor_per_point": 100,
                "rate_milli_by_tier": {tier: 1000 for tier, _ in settings.DEFAULT["tiers"]},
                **changes}
    with central_db.transaction() as session:
        return loyalty_rules.set_rules(session, document)


def private_modes(root: Path, skip: tuple[str, ...] = ()) -> list[str]:
    """Every file under ``root`` that is not mode 0600 and every directory not 0700 (names in
    ``skip`` left out, with what is inside them): what a private folder must not hold."""
    wrong = []
    for path in [root, *sorted(root.rglob("*"))]:
        if any(part in skip for part in path.relative_to(root).parts):
            continue
        try:
            st = path.lstat()
        except FileNotFoundError:
            continue  # a running process's temporary file, gone meanwhile
        mode = st.st_mode & 0o777
        want = 0o700 if stat_mode.S_ISDIR(st.st_mode) else 0o600
        if mode != want:
            wrong.append(f"{path} {mode:o}")
    return wrong

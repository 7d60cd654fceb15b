"""The node's side of sync: signed HTTP to central, the push step and the pull step.

Push sends pending outbox events in seq order, gzip-compressed, and marks them acknowledged
only after central answers with its high-water mark; a lost answer means the same events go
again and central skips them. On ``seq_gap`` the node resends from central's mark + 1. Pull
applies change-feed pages, each page and the cursor in one local transaction. Neither step
holds a database transaction open while waiting on the network.
"""

from __future__ import annotations

import gzip
import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from secrets import token_hex
from urllib.parse import urlsplit

import marshmallow as ma
import requests
from sqlalchemy import func, literal, select, update

from kassa.common.db import Database, local_date, utcnow
from kassa.common.i18n import current_locale
from kassa.common.runtime.observability import HEADER as REQUEST_ID_HEADER
from kassa.common.runtime.observability import outgoing_request_id
from kassa.common.signing import generate_private_key_pem, public_key_pem, signature_headers
from kassa.pos_node.models import Counter, NodeIdentity, OutboxEvent, Return, Sale
from kassa.pos_node.replication import outbox, replica
from kassa.sync.protocol import (
    ChangesPageSchema,
    NodeStatusAnswerSchema,
    PushResponseSchema,
)

log = logging.getLogger(__name__)


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` in seconds (central sends seconds; an HTTP date or nonsense: None)."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 <= seconds <= 3600 else None


class SyncError(Exception):
    """Central refused or could not be reached; ``code`` is central's error code if it gave one."""

    def __init__(self, message: str, code: str = "unreachable", details: dict | None = None,
                 retry_after: float | None = None):
        super().__init__(message)
        self.code = code
        self.details = details or {}
        # Central shedding load (429/503) says when to come back: ``Retry-After`` seconds.
        self.retry_after = retry_after

    @property
    def unanswered(self) -> bool:
        """Central did not answer the question (down, cut off, or an answer that broke)."""
        return self.code in ("unreachable", "http_error", "bad_response")


@dataclass(frozen=True)
class SyncResult:
    pushed: int
    high_water: int
    pulled: int
    feed_cursor: int


class CentralClient:
    """Signed JSON requests from one node to central."""

    def __init__(self, central_url: str, node_id: str, private_key_pem: str,
                 timeout: float = 10.0, session: requests.Session | None = None):
        self.base = central_url.rstrip("/")
        self.node_id = node_id
        self.key = private_key_pem
        self.timeout = timeout
        self.http = session or requests.Session()

    def __enter__(self) -> "CentralClient":
        return self

    def __exit__(self, *_exc) -> None:
        self.http.close()

    def request(self, method: str, path: str, body: dict | None = None,
                params: dict | None = None, expect: ma.Schema | None = None) -> dict:
        url = requests.Request(method, self.base + path, params=params).prepare().url
        assert url is not None  # prepare() always sets it (None only before)
        raw = b""
        headers = {"Accept": "application/json"}
        if body is not None:
            raw = gzip.compress(json.dumps(body, separators=(",", ":")).encode(), 6)
            headers.update({"Content-Type": "application/json", "Content-Encoding": "gzip"})
        split = urlsplit(url)
        path_qs = split.path + (f"?{split.query}" if split.query else "")
        headers.update(signature_headers(self.node_id, self.key, method, path_qs, raw))
        # Not signed (the signature covers method, path, time, nonce and body): it only ties
        # this call's log lines at both ends together.
        request_id = headers[REQUEST_ID_HEADER] = outgoing_request_id()
        started = time.perf_counter()
        context = {"request_id": request_id, "node_id": self.node_id, "method": method,
                   "path": split.path}
        try:
            resp = self.http.request(method, url, data=raw or None, headers=headers,
                                     timeout=self.timeout)
        except requests.RequestException as err:
            log.warning("central %s %s: unreachable (%s)", method, split.path,
                        err.__class__.__name__, extra={**context, "duration_ms": round(
                            (time.perf_counter() - started) * 1000, 1)})
            raise SyncError(f"central unreachable: {err.__class__.__name__}") from err
        log.info("central %s %s %s", method, split.path, resp.status_code,
                 extra={**context, "status": resp.status_code,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1)})
        try:
            doc = resp.json()
        except ValueError:
            doc = None
        if resp.status_code >= 400:
            doc = doc if isinstance(doc, dict) else {}
            raise SyncError(doc.get("message", f"HTTP {resp.status_code}"),
                            code=doc.get("error", "http_error"), details=doc.get("details"),
                            retry_after=retry_after_seconds(resp.headers.get("Retry-After")))
        if not isinstance(doc, dict):
            if resp.status_code == 204:
                return {}
            # A connection cut in the headers or the body can still look like a 200 (urllib3
            # only warns); central's JSON answers are objects, so this is no answer at all.
            raise SyncError("central's answer was cut off or is not JSON", code="bad_response")
        if expect is None:
            return doc
        try:
            return expect.load(doc)
        except ma.ValidationError as err:
            raise SyncError(f"central's answer is incomplete or malformed: {err.messages}",
                            code="bad_response") from None


def _identity(db: Database) -> NodeIdentity:
    with db.transaction() as session:
        node = session.scalars(select(NodeIdentity)).first()
        if node is None:
            raise SyncError("node not initialized: run `kassa pos init`", code="not_initialized")
        return node


def client_for(db: Database, timeout: float = 10.0) -> CentralClient:
    node = _identity(db)
    return CentralClient(node.central_url, node.node_id, node.private_key_pem, timeout)


def ask(db: Database, method: str, path: str, body: dict | None = None,
        timeout: float = 5.0) -> dict:
    """One signed request to central from a till's request handler (no transaction held).
    Central answers in the till's language, so its refusals reach the cashier readable."""
    with client_for(db, timeout=timeout) as client:
        client.http.headers["Accept-Language"] = current_locale()
        return client.request(method, path, body)


def _acknowledged(db: Database) -> int:
    with db.read() as session:
        return session.scalar(select(func.max(OutboxEvent.seq))
                              .where(OutboxEvent.acked_at.is_not(None))) or 0


def push(db: Database, client: CentralClient, batch_size: int = 500) -> tuple[int, int]:
    """Push until the outbox is drained; returns ``(events acknowledged, high_water)``, the
    latter the last event central has acknowledged (with nothing to push: as it last said)."""
    total, high_water, resend_from = 0, 0, None
    while True:
        with db.transaction() as session:
            if resend_from is not None:
                # Central lost events it had acknowledged? Never expected; resend from its mark.
                session.execute(update(OutboxEvent).where(OutboxEvent.seq >= resend_from)
                                .values(acked_at=None))
            events = outbox.pending(session, batch_size)
        resend_from = None
        if not events:
            return total, high_water or _acknowledged(db)
        try:
            answer = client.request("POST", "/api/v1/sync/push",
                                    {"node_id": client.node_id, "events": events},
                                    expect=PushResponseSchema())
        except SyncError as err:
            if err.code == "seq_gap" and "high_water" in err.details:
                resend_from = err.details["high_water"] + 1
                if resend_from > events[0]["seq"]:
                    raise  # central is ahead of what we hold: needs an operator
                continue
            raise
        high_water = answer["high_water"]
        with db.transaction() as session:
            total += outbox.acknowledge(session, high_water)
            session.execute(update(NodeIdentity).values(last_push_at=utcnow(),
                                                        last_contact_at=utcnow(),
                                                        last_sync_error=None))
        if high_water < events[-1]["seq"]:
            raise SyncError(f"central acknowledged only up to {high_water}", code="partial_ack")


def pull(db: Database, client: CentralClient, page_size: int = 500) -> int:
    """Pull change-feed pages until caught up; returns how many changes were applied."""
    total = 0
    while True:
        since = _identity(db).feed_cursor
        page = client.request("GET", "/api/v1/sync/changes",
                              params={"since": since, "limit": page_size},
                              expect=ChangesPageSchema())
        with db.transaction() as session:
            node = session.scalars(select(NodeIdentity)).one()
            if node.feed_cursor != since:
                continue  # another pull moved the cursor meanwhile; fetch again from there
            total += replica.apply_page(session, node, page["changes"], page["next_since"])
            node.last_pull_at = node.last_contact_at = utcnow()
            node.last_sync_error = None
        if not page["more"]:
            return total


def report_status(db: Database, client: CentralClient, days: int = 7) -> dict:
    """Tell central how far this node is and what it counted per day (reconciliation)."""
    with db.read() as session:
        report = node_report(session, days)
    report["backup"] = _backup_report(db)
    return client.request("POST", "/api/v1/sync/status", {"node_id": client.node_id, **report},
                          expect=NodeStatusAnswerSchema())


def _backup_report(db: Database) -> dict:
    from kassa.common.storage.backup import read_state, sqlite_path
    state = read_state(sqlite_path(db.url))
    return {"state": state["state"], "lag_seconds": state.get("lag_seconds", 0.0),
            "last_error": state.get("last_error") if state["state"] != "ok" else None}


def node_report(session, days: int = 7) -> dict:
    since = utcnow() - timedelta(days=days)
    node = session.scalars(select(NodeIdentity)).one()
    seq = session.scalar(select(Counter.value).where(Counter.name == "outbox_seq")) or 0
    depth, oldest = session.execute(
        select(func.count(), func.min(OutboxEvent.occurred_at))
        .where(OutboxEvent.acked_at.is_(None))).one()
    # The store's local days: the days its Z reports and central's reports count.
    zone = literal(replica.store_zone(session))
    sale_day, return_day = local_date(Sale.sold_at, zone), local_date(Return.created_at, zone)
    totals: dict = {}
    for day, count, minor in session.execute(
            select(sale_day, func.count(), func.coalesce(func.sum(Sale.total_minor), 0))
            .where(Sale.sold_at >= since, Sale.status.in_(("completed", "post_voided")))
            .group_by(sale_day)):
        totals[day] = {"day": day.isoformat(), "sales_count": count, "sales_minor": minor,
                       "returns_count": 0, "returns_minor": 0}
    for day, count, minor in session.execute(
            select(return_day, func.count(), func.coalesce(func.sum(Return.total_minor), 0))
            .where(Return.created_at >= since).group_by(return_day)):
        totals.setdefault(day, {"day": day.isoformat(), "sales_count": 0, "sales_minor": 0})
        totals[day].update(returns_count=count, returns_minor=minor)
    return {"node_seq": seq, "queue_depth": depth,
            "oldest_pending_at": oldest.isoformat() if oldest else None,
            "feed_cursor": node.feed_cursor, "days": [totals[d] for d in sorted(totals)]}


def rotate_key(db: Database, timeout: float = 10.0) -> str:
    """Replace this node's signing key: a new key is kept as pending first, central is told
    (signed with the current key), then the node switches. Interrupted at any point, running it
    again finishes the same rotation; returns the new public key."""
    with db.transaction() as session:
        node = session.scalars(select(NodeIdentity)).one()
        if not node.pending_private_key_pem:
            node.pending_private_key_pem = generate_private_key_pem()
    _finish_rotation(db, timeout)
    return public_key_pem(_identity(db).private_key_pem)


def _finish_rotation(db: Database, timeout: float) -> None:
    node = _identity(db)
    pending = node.pending_private_key_pem
    if not pending:
        return
    body = {"public_key_pem": public_key_pem(pending)}
    try:
        with client_for(db, timeout) as client:
            client.request("POST", "/api/v1/sync/rotate-key", body)
    except SyncError as err:
        if err.code not in ("bad_signature", "unknown_node"):
            raise
        # Central took the new key earlier and the old one's grace is over: confirm with it.
        with CentralClient(node.central_url, node.node_id, pending, timeout) as client:
            client.request("POST", "/api/v1/sync/rotate-key", body)
    # The cookie secret is renewed with the key: both are in the database and so in its
    # replica, and a rotation is what support does when either may have leaked (it takes
    # effect when the till restarts: staff sign in again).
    with db.transaction() as session:
        session.execute(update(NodeIdentity).values(private_key_pem=pending,
                                                    pending_private_key_pem=None,
                                                    session_secret=token_hex(32)))


def sync_now(db: Database, timeout: float = 10.0, batch_size: int = 500) -> SyncResult:
    """Push facts, pull master data, report status; records the error (and its code, such as
    ``clock_skew`` with the skew) on the node if any step fails."""
    try:
        _finish_rotation(db, timeout)
        with client_for(db, timeout) as client:
            # Facts first: a till's own edit (a customer's phone) reaches central before the
            # feed could bring back the value it replaced.
            pushed, high_water = push(db, client, batch_size)
            pulled = pull(db, client)
            report_status(db, client)
    except SyncError as err:
        with db.transaction() as session:
            session.execute(update(NodeIdentity).values(
                last_sync_error=f"{err.code}: {err}"[:500], sync_error_code=err.code[:32],
                clock_skew_seconds=err.details.get("skew_seconds")
                if err.code == "clock_skew" else None))
        raise
    with db.transaction() as session:
        session.execute(update(NodeIdentity).values(
            last_sync_error=None, sync_error_code=None, clock_skew_seconds=None))
    return SyncResult(pushed, high_water, pulled, _identity(db).feed_cursor)

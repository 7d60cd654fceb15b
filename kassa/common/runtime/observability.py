"""What either app tells its operators: Prometheus metrics at ``/metrics``, request ids, and
log lines (JSON or text) that carry them.

``init_app`` instruments an app generically from Flask's request hooks, by endpoint name (never
the raw path, so the label set stays bounded): request latency and count, errors by their
``{"error": code}``, and the checkout and authorization endpoints as histograms of their own.
State that lives in a database (the till's queue, central's view of every node) is read when
Prometheus scrapes, by the app's collector. Served under gunicorn, ``kassa.common.runtime.serve``
puts prometheus-client in multiprocess mode, so a scrape answered by any worker sums all of them.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import sys
import time
import uuid
from datetime import datetime, timezone

from flask import Flask, Response, current_app, g, has_request_context, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest

from kassa.common.config import metrics_multiprocess_dir
from kassa.common.errors import KassaError

HEADER = "X-Request-Id"
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_METRICS_ENDPOINT = "kassa_metrics"
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

log = logging.getLogger("kassa.request")

HTTP_SECONDS = Histogram(
    "kassa_http_request_duration_seconds", "Time to answer an HTTP request (_count: requests)",
    ["app", "endpoint", "method", "status"], buckets=_LATENCY_BUCKETS, registry=None)
HTTP_ERRORS = Counter(
    "kassa_http_errors", "Error answers by their stable code ({\"error\": code})",
    ["app", "code", "status"], registry=None)
CHECKOUT_SECONDS = Histogram(
    "kassa_checkout_duration_seconds", "Time to complete a sale at the till (outcome ok|error)",
    ["app", "endpoint", "outcome"], buckets=_LATENCY_BUCKETS, registry=None)
AUTHORIZATION_SECONDS = Histogram(
    "kassa_authorization_duration_seconds",
    "Time to answer an authorization request or decision (outcome ok|error)",
    ["app", "endpoint", "outcome"], buckets=_LATENCY_BUCKETS, registry=None)
_SHARED = (HTTP_SECONDS, HTTP_ERRORS, CHECKOUT_SECONDS, AUTHORIZATION_SECONDS)

# (app, endpoint, method) -> its own histogram, besides the generic one.
_TIMED = {
    ("pos", "sales.Checkout", "POST"): CHECKOUT_SECONDS,
    ("pos", "sales.Sales", "POST"): CHECKOUT_SECONDS,
    ("pos", "authorization.Ask", "POST"): AUTHORIZATION_SECONDS,
    ("central", "authorizations.Requests", "POST"): AUTHORIZATION_SECONDS,
    ("central", "authorizations.Decision", "POST"): AUTHORIZATION_SECONDS,
}


def new_request_id() -> str:
    return uuid.uuid4().hex


def outgoing_request_id() -> str:
    """The id a call to central carries: the request being served (a till's request that asks
    central), or a fresh one (the background sync, the CLI)."""
    if has_request_context() and g.get("request_id"):
        return g.request_id
    return new_request_id()


def use_multiprocess() -> None:
    """Count into ``PROMETHEUS_MULTIPROC_DIR`` from now on (``kassa.common.runtime.serve`` sets it
    before gunicorn forks). prometheus-client picks its storage when first imported, and the
    CLI may have built the app, importing it, before serving; every metric here has labels,
    so no value exists until a worker makes one."""
    from prometheus_client import values
    values.ValueClass = values.get_value_class()


class _State:
    """One app's metrics registry, name and (on a till) its node id."""

    def __init__(self, app: Flask, name: str, collector):
        self.name = name
        self.token = getattr(app.config["KASSA"], "metrics_token", None)
        self.registry = CollectorRegistry()
        if metrics_multiprocess_dir() is not None:
            from prometheus_client import multiprocess
            multiprocess.MultiProcessCollector(self.registry)
        else:
            for metric in _SHARED:
                self.registry.register(metric)
        if collector is not None:
            self.registry.register(collector)
        self.collector = collector
        self._node_id: str | None = None

    def node_id(self) -> str | None:
        """A till's own id (known once it is enrolled); on central, the signing node's."""
        if self.name == "central":
            return g.get("node_id") if has_request_context() else None
        if self._node_id is None and self.collector is not None:
            self._node_id = self.collector.own_node_id()
        return self._node_id


def init_app(app: Flask, name: str, collector=None) -> None:
    """Request ids, request metrics and logs, and ``/metrics`` (a plain route: not in the
    OpenAPI document) for ``app``, called ``name`` (``central`` or ``pos``) in labels and logs.
    ``collector`` adds what is read from the database at scrape time."""
    state = _State(app, name, collector)
    app.extensions["kassa_observability"] = state
    # First of all before-request hooks: a request refused by another hook still gets an id.
    app.before_request_funcs.setdefault(None, []).insert(0, _begin)
    app.after_request(_finish)
    app.add_url_rule("/metrics", _METRICS_ENDPOINT, _metrics, methods=["GET"])


def _begin() -> None:
    g.started = time.perf_counter()
    incoming = request.headers.get(HEADER, "")
    g.request_id = incoming if _SANE_ID.fullmatch(incoming) else new_request_id()


def _finish(response: Response) -> Response:
    state: _State = current_app.extensions["kassa_observability"]
    elapsed = time.perf_counter() - g.get("started", time.perf_counter())
    request_id = g.get("request_id") or new_request_id()
    response.headers[HEADER] = request_id
    status = response.status_code
    endpoint = request.endpoint or "none"
    if endpoint == _METRICS_ENDPOINT and status == 200:
        return response  # scrapes are neither counted nor logged
    method = request.method if request.method in _METHODS else "other"
    HTTP_SECONDS.labels(state.name, endpoint, method, str(status)).observe(elapsed)
    code = None
    if status >= 400:
        code = _error_code(response)
        HTTP_ERRORS.labels(state.name, code, str(status)).inc()
    timed = _TIMED.get((state.name, endpoint, request.method))
    if timed is not None:
        timed.labels(state.name, endpoint, "ok" if status < 400 else "error").observe(elapsed)
    log.log(logging.ERROR if status >= 500 else logging.INFO, "%s %s %s", method,
            request.path, status,
            extra={"request_id": request_id, "method": method, "path": request.path,
                   "status": status, "duration_ms": round(elapsed * 1000, 1),
                   "endpoint": endpoint, "error": code, "node_id": state.node_id()})
    return response


def _error_code(response: Response) -> str:
    if response.is_json and not response.is_streamed:
        body = response.get_json(silent=True)
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return body["error"][:64]
    return "http_error"


def _metrics() -> Response:
    state: _State = current_app.extensions["kassa_observability"]
    if not _may_scrape(state.token):
        raise KassaError("Metrics are for loopback clients or a client with the metrics "
                         "token.", code="metrics_forbidden", status=403)
    return Response(generate_latest(state.registry), content_type=CONTENT_TYPE_LATEST)


def _may_scrape(token: str | None) -> bool:
    """Loopback, unless the request came through a proxy we do not believe (nginx's
    X-Forwarded-For with ``KASSA_TRUSTED_PROXIES=0``: the real client is unknown, so not
    local); or anyone with the token when one is set."""
    if token:
        given = request.headers.get("Authorization", "")
        if given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(),
                                                               token.encode()):
            return True
    proxied = ("X-Forwarded-For" in request.headers
               and "werkzeug.proxy_fix.orig" not in request.environ)
    return not proxied and request.remote_addr in ("127.0.0.1", "::1")


# -- what is read from the database at scrape time ------------------------------------------

def _age_seconds(moment: datetime | None, now: datetime) -> float | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max((now - moment).total_seconds(), 0.0)


def _ok_metric(ok: bool) -> GaugeMetricFamily:
    return GaugeMetricFamily("kassa_status_query_ok",
                             "1 when the scrape could read the database's state, else 0",
                             value=1 if ok else 0)


class NodeCollector:
    """The till's queue and sync lag, from what its status endpoint shows."""

    def __init__(self, db, sync_interval: float):
        self.db = db
        self.sync_interval = sync_interval

    def own_node_id(self) -> str | None:
        from sqlalchemy import select

        from kassa.pos_node.models import NodeIdentity
        try:
            with self.db.read() as session:
                return session.scalar(select(NodeIdentity.node_id).limit(1))
        except Exception:  # noqa: BLE001 - not migrated yet; the next request asks again
            return None

    def collect(self):
        from sqlalchemy import func, select

        from kassa.common.db import utcnow
        from kassa.pos_node.app import node_status
        from kassa.pos_node.models import OutboxEvent
        try:
            status = node_status(self.db, self.sync_interval)
            with self.db.read() as session:
                oldest = session.scalar(select(func.min(OutboxEvent.occurred_at))
                                        .where(OutboxEvent.acked_at.is_(None)))
        except Exception:  # noqa: BLE001 - a scrape must answer even when the database fails
            logging.getLogger(__name__).warning("metrics: node status failed", exc_info=True)
            yield _ok_metric(False)
            return
        yield _ok_metric(True)
        now = utcnow()
        node = status.get("node_id") or ""

        def gauge(name, text, value, **labels):
            family = GaugeMetricFamily(name, text, labels=["node_id", *labels])
            family.add_metric([node, *labels.values()], value)
            return family

        yield gauge("kassa_node_outbox_pending_events",
                    "Events in the outbox not yet acknowledged by central (queue depth)",
                    status["pending_events"])
        yield gauge("kassa_node_oldest_pending_event_age_seconds",
                    "Age of the oldest unacknowledged event (0: none waiting)",
                    _age_seconds(oldest, now) or 0.0)
        last = status.get("last_contact_at")
        since = _age_seconds(datetime.fromisoformat(last), now) if last else None
        if since is not None:
            yield gauge("kassa_node_seconds_since_last_sync",
                        "Seconds since the last successful push or pull", since)
        yield gauge("kassa_node_online", "1 when the till syncs with central now",
                    1 if status["online"] else 0)
        if status.get("state"):
            yield gauge("kassa_node_sync_state", "The badge's state (always 1)", 1,
                        state=status["state"])
        backup = status.get("backup") or {"state": "off"}
        yield gauge("kassa_backup_lag_seconds", "Age of the oldest write the Litestream "
                    "replica does not have yet (0: caught up)", backup.get("lag_seconds", 0.0))
        yield gauge("kassa_backup_state", "The backup's state: ok, behind, alarm, down, off, "
                    "starting (always 1)", 1, state=backup["state"])


class CentralCollector:
    """Every node's sync state as central's node status page shows it."""

    def __init__(self, db):
        self.db = db

    def own_node_id(self) -> None:
        return None

    def collect(self):
        from kassa.central.replication import node_status
        from kassa.common.db import utcnow
        try:
            with self.db.read() as session:
                nodes = node_status.statuses(session, None)
        except Exception:  # noqa: BLE001 - a scrape must answer even when the database fails
            logging.getLogger(__name__).warning("metrics: node statuses failed", exc_info=True)
            yield _ok_metric(False)
            return
        yield _ok_metric(True)
        now = utcnow()
        families = {
            "high_water": GaugeMetricFamily(
                "kassa_central_node_high_water", "Highest seq central holds of the node",
                labels=["node_id"]),
            "lag": GaugeMetricFamily(
                "kassa_central_node_seconds_since_seen",
                "Seconds since the node's last signed request (absent: never seen)",
                labels=["node_id"]),
            "behind": GaugeMetricFamily(
                "kassa_central_node_events_behind",
                "Events the node reported that central does not hold yet", labels=["node_id"]),
            "queue": GaugeMetricFamily(
                "kassa_central_node_queue_depth", "Unsent events the node last reported",
                labels=["node_id"]),
            "oldest": GaugeMetricFamily(
                "kassa_central_node_oldest_pending_age_seconds",
                "Age of the oldest event the node last reported unsent (sync lag; 0: none)",
                labels=["node_id"]),
            "feed": GaugeMetricFamily(
                "kassa_central_node_feed_behind",
                "Change-feed versions the node has not pulled yet", labels=["node_id"]),
            "held": GaugeMetricFamily(
                "kassa_central_quarantined_events",
                "The node's events held in quarantine, waiting for repair", labels=["node_id"]),
            "state": GaugeMetricFamily(
                "kassa_central_node_state", "The node's state (always 1)",
                labels=["node_id", "state"]),
            "backup": GaugeMetricFamily(
                "kassa_central_node_backup_lag_seconds",
                "The node's backup lag as it last reported (its Litestream replica)",
                labels=["node_id", "state"]),
        }
        for row in nodes:
            nid = row["node_id"]
            families["high_water"].add_metric([nid], row["high_water"])
            if row["lag_seconds"] is not None:
                families["lag"].add_metric([nid], row["lag_seconds"])
            if row["events_behind"] is not None:
                families["behind"].add_metric([nid], row["events_behind"])
            if row["queue_depth"] is not None:
                families["queue"].add_metric([nid], row["queue_depth"])
            if row["reported_at"] is not None:
                families["oldest"].add_metric(
                    [nid], _age_seconds(row["oldest_pending_at"], now) or 0.0)
            families["feed"].add_metric([nid], max(row["feed_head"] - (row["feed_cursor"] or 0),
                                                   0))
            families["held"].add_metric([nid], row["quarantined"])
            families["state"].add_metric([nid, row["state"]], 1)
            if row["backup_state"] is not None:
                families["backup"].add_metric([nid, row["backup_state"]],
                                              row["backup_lag_seconds"] or 0)
        yield from families.values()


# -- logs ------------------------------------------------------------------------------------

_FIELDS = ("app", "node_id", "request_id", "method", "path", "status", "duration_ms",
           "endpoint", "error")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message and what is known of the request."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {"ts": datetime.fromtimestamp(record.created, timezone.utc)
               .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
               "level": record.levelname, "logger": record.name,
               "message": record.getMessage()}
        for field in _FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                doc[field] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        return super().format(record)


class _Context(logging.Filter):
    """Adds the app's name, and within a request its id and node, to every record."""

    def __init__(self, app_name: str):
        super().__init__()
        self.app_name = app_name

    def filter(self, record: logging.LogRecord) -> bool:
        record.app = self.app_name
        if has_request_context():
            if getattr(record, "request_id", None) is None:
                record.request_id = g.get("request_id")
            if getattr(record, "node_id", None) is None:
                state = current_app.extensions.get("kassa_observability")
                record.node_id = state.node_id() if state else None
        return True


def formatter(fmt: str) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else TextFormatter()


def configure_logging(fmt: str, app_name: str) -> None:
    """This process's log lines on stderr in ``fmt`` (``json`` or ``text``), INFO and up."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(fmt))
    handler.addFilter(_Context(app_name))
    handler.kassa = True
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not getattr(h, "kassa", False)] + [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a line per job run otherwise


def gunicorn_logger(fmt: str, app_name: str):
    """gunicorn's own error log (master and workers) in the same format."""
    from gunicorn.glogging import Logger

    class KassaGunicornLogger(Logger):
        def setup(self, cfg):
            super().setup(cfg)
            for handler in self.error_log.handlers:
                handler.setFormatter(formatter(fmt))
                handler.addFilter(_Context(app_name))

    return KassaGunicornLogger

"""What either app tells its operators: Prometheus metrics at ``/metrics``, request ids, and
log lines (JSON or text) that carry them.

``init_app`` instruments an app generically from Flask's request hooks, by endpoint name (never
the raw path, so the label set stays bounded): request latency and count, errors by their
``{"error": code}``, and the endpoints the app names (checkout, authorizations) as histograms of
their own. State that lives in a database (the till's queue, central's view of every node) is
read when Prometheus scrapes, by the collector the app brings (the till's
``replication.status.NodeCollector``, central's ``replication.node_status.CentralCollector``).
Served under gunicorn, ``kassa.common.runtime.serve`` puts prometheus-client in multiprocess
mode, so a scrape answered by any worker sums all of them.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol, cast

from flask import Flask, Response, current_app, g, has_request_context, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric

from kassa.common.config import metrics_multiprocess_dir
from kassa.common.errors import KassaError

if TYPE_CHECKING:
    from gunicorn.glogging import Logger

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

def new_request_id() -> str:
    return uuid.uuid4().hex


def outgoing_request_id() -> str:
    """The id a call to central carries: the request being served (a till's request that asks
    central), or a fresh one (the background sync, the CLI)."""
    if has_request_context() and g.get("request_id"):
        request_id: str = g.request_id
        return request_id
    return new_request_id()


def use_multiprocess() -> None:
    """Count into ``PROMETHEUS_MULTIPROC_DIR`` from now on (``kassa.common.runtime.serve`` sets it
    before gunicorn forks). prometheus-client picks its storage when first imported, and the
    CLI may have built the app, importing it, before serving; every metric here has labels,
    so no value exists until a worker makes one."""
    from prometheus_client import values
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]  # unannotated


class AppCollector(Protocol):
    """What ``init_app``'s ``collector`` answers (the till's ``NodeCollector``, central's
    ``CentralCollector``)."""

    def own_node_id(self) -> str | None: ...

    def collect(self) -> Iterable[Metric]: ...


class _State:
    """One app's metrics registry, name, timed endpoints and (on a till) its node id."""

    def __init__(self, app: Flask, name: str, collector: AppCollector | None,
                 timed: dict[tuple[str, str], Histogram]):
        self.name = name
        self.timed = timed
        self.token: str | None = getattr(app.config["KASSA"], "metrics_token", None)
        self.registry = CollectorRegistry()
        if metrics_multiprocess_dir() is not None:
            from prometheus_client import multiprocess
            # prometheus_client leaves the collector's __init__ unannotated.
            multiprocess.MultiProcessCollector(self.registry)  # type: ignore[no-untyped-call]
        else:
            for metric in _SHARED:
                self.registry.register(metric)
        if collector is not None:
            self.registry.register(collector)
        self.collector = collector
        self._node_id: str | None = None

    def node_id(self) -> str | None:
        """The node that signed the request (central sets ``g.node_id``), else the app's own
        (a till's, once it is enrolled; central has none)."""
        if has_request_context() and g.get("node_id"):
            node_id: str = g.node_id
            return node_id
        if self._node_id is None and self.collector is not None:
            self._node_id = self.collector.own_node_id()
        return self._node_id


def init_app(app: Flask, name: str, collector: AppCollector | None = None,
             timed: dict[tuple[str, str], Histogram] | None = None) -> None:
    """Request ids, request metrics and logs, and ``/metrics`` (a plain route: not in the
    OpenAPI document) for ``app``, called ``name`` (``central`` or ``pos``) in labels and logs.
    ``collector`` adds what is read from the database at scrape time (it answers
    ``own_node_id()`` and ``collect()``); ``timed`` maps ``(endpoint, method)`` to a histogram
    of its own (``CHECKOUT_SECONDS``, ``AUTHORIZATION_SECONDS``), besides the generic one."""
    state = _State(app, name, collector, timed or {})
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
    timed = state.timed.get((endpoint, request.method))
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
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, str):
            return error[:64]
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


# -- helpers for the apps' collectors (what is read from the database at scrape time) -------

def age_seconds(moment: datetime | None, now: datetime) -> float | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max((now - moment).total_seconds(), 0.0)


def ok_metric(ok: bool) -> GaugeMetricFamily:
    return GaugeMetricFamily("kassa_status_query_ok",
                             "1 when the scrape could read the database's state, else 0",
                             value=1 if ok else 0)


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
    def __init__(self) -> None:
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
    # A mark logging does not declare: the next call replaces this handler, not others'.
    cast(Any, handler).kassa = True
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not getattr(h, "kassa", False)] + [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a line per job run otherwise


def gunicorn_logger(fmt: str, app_name: str) -> type[Logger]:
    """gunicorn's own error log (master and workers) in the same format."""
    from gunicorn.glogging import Logger

    class KassaGunicornLogger(Logger):  # type: ignore[misc]  # gunicorn ships no type information
        def setup(self, cfg: Any) -> None:
            super().setup(cfg)
            for handler in self.error_log.handlers:
                handler.setFormatter(formatter(fmt))
                handler.addFilter(_Context(app_name))

    return KassaGunicornLogger

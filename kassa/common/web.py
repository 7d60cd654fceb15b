"""The web side of errors: every 4xx/5xx from either app is ``{"error": code, "message": text}``
(plus ``details`` for validation errors); no HTML error page ever reaches an API client.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

import marshmallow as ma
from apispec import BasePlugin
from flask import Flask, Request, Response, after_this_request, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_smorest import Api
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError, RequestEntityTooLarge

from kassa.common.errors import Forbidden, KassaError

log = logging.getLogger(__name__)


# HTTP status -> stable code, for errors raised by Flask/werkzeug itself.
_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
    500: "internal_error",
}


class ErrorSchema(ma.Schema):
    error = ma.fields.String(metadata={"description": "stable machine-readable code"})
    message = ma.fields.String(metadata={"description": "a sentence for people"})
    details = ma.fields.Dict(metadata={"description": "per-field validation messages"})


# Refusals the shared machinery can give any operation: a KassaError from a service (bad
# request, sign-in, role, unknown id, conflict, validation, storage or central unavailable) and
# the NUL-character refusal. A body adds the size limit and the JSON-only rule.
STANDARD_ERRORS = (400, 401, 403, 404, 409, 422, 503)
BODY_ERRORS = (413, 415)


class _StandardErrorResponses(BasePlugin):
    """Documents the standard error responses on every operation, each with ``ErrorSchema``,
    unless the operation documents that status itself (an import report's 422, a 429). Explicit
    codes rather than one ``default`` response: a client (and the fuzz test) can tell a
    documented refusal from an undocumented status."""

    def operation_helper(self, path: str | None = None,
                         operations: dict[str, Any] | None = None, **kwargs: Any) -> None:
        for method, operation in (operations or {}).items():
            responses = operation.setdefault("responses", {})
            documented = {str(status) for status in responses}
            statuses = STANDARD_ERRORS + (BODY_ERRORS if method in ("post", "put", "patch")
                                          else ())
            for status in statuses:
                if str(status) not in documented:
                    responses[str(status)] = HTTPStatus(status).name  # flask-smorest's component


class ImportProblemSchema(ma.Schema):
    line = ma.fields.Integer()
    field = ma.fields.String(metadata={"description": "the column, empty for the whole row"})
    message = ma.fields.String()


class FileImportReportSchema(ma.Schema):
    """What every CSV import answers, whatever it loads; each import adds its own counts."""
    batch = ma.fields.String(metadata={"description": "sha256 of the file's bytes"})
    rows = ma.fields.Integer(metadata={"description": "data rows in the file"})
    written = ma.fields.Boolean()
    dry_run = ma.fields.Boolean()
    already_imported = ma.fields.Boolean(metadata={
        "description": "this file was loaded before (at imported_at); nothing changed"})
    imported_at = ma.fields.AwareDateTime(allow_none=True)
    ignored_columns = ma.fields.List(ma.fields.String())
    bad_rows = ma.fields.Integer()
    errors_total = ma.fields.Integer(metadata={"description": "errors lists the first 1000"})
    errors = ma.fields.List(ma.fields.Nested(ImportProblemSchema))


def report_or_refusal(report_schema: type[ma.Schema]) -> dict[str, Any]:
    """The schema of an import's 422: its report of the bad rows, or a refusal of the request
    itself (not UTF-8, a NUL character, a bad query parameter) in ``ErrorSchema``."""
    return {"anyOf": [report_schema, ErrorSchema]}


class KassaApi(Api):  # type: ignore[misc]  # flask-smorest ships no type information
    """flask-smorest's Api answering errors in kassa's shape and documenting them.

    A blueprint's routes are registered at once and its OpenAPI document when the spec is
    first read (``/api/openapi.json``): documenting every operation was two thirds of making
    an app (0.18 s of central's), paid by every serving process and every test's app, and
    read by few of them."""

    ERROR_SCHEMA = ErrorSchema
    DEFAULT_ERROR_RESPONSE_NAME = None  # replaced by explicit codes: _StandardErrorResponses

    def __init__(self, app: Flask | None = None, **kwargs: Any):
        self._undocumented: list[tuple[Any, str, Any]] = []
        self._documenting = threading.Lock()
        super().__init__(app, **kwargs)

    @property
    def spec(self) -> Any:
        """The OpenAPI document, with every blueprint registered so far in it."""
        if self._undocumented:
            with self._documenting:
                while self._undocumented:
                    blp, name, parameters = self._undocumented.pop(0)
                    blp.register_views_in_doc(self, self._app, self._spec, name=name,
                                              parameters=parameters)
                    self._spec.tag({"name": name, "description": blp.description})
        return self._spec

    @spec.setter
    def spec(self, value: Any) -> None:
        self._spec = value

    def register_blueprint(self, blp: Any, *, parameters: Any = None, **options: Any) -> None:
        """flask-smorest's, with the documenting left until the spec is read."""
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)
        self._undocumented.append((blp, name, parameters))

    def _init_spec(self, *, extra_plugins: Sequence[BasePlugin] | None = None,
                   **options: Any) -> None:
        super()._init_spec(extra_plugins=[*(extra_plugins or ()), _StandardErrorResponses()],
                           **options)

    def handle_http_exception(
            self, error: HTTPException) -> tuple[Response, int, Mapping[str, str]]:
        status = error.code or 500
        code = _STATUS_CODES.get(status, "http_error")
        message = error.description or error.name
        data = getattr(error, "data", None) or {}
        body = {"error": code, "message": message}
        messages = data.get("errors") or data.get("messages")
        if messages:
            # webargs nests messages by location ("json", "query"); flatten one level.
            if isinstance(messages, dict) and len(messages) == 1 and next(iter(messages)) in (
                    "json", "query", "form", "headers", "files", "path"):
                messages = next(iter(messages.values()))
            if isinstance(messages, list) and any("JSON" in str(m) for m in messages):
                body = {"error": "invalid_json", "message": "The body is not valid JSON."}
            else:
                body["details"] = messages
                body["message"] = data.get("message") or "The request did not pass validation."
        elif "message" in data:
            body["message"] = data["message"]
        return jsonify(body), status, data.get("headers", {})


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The body types a page on another site can make a browser send without asking first (a form,
# a "simple" fetch); any other needs a CORS preflight, which neither app ever grants.
_FORM_TYPES = frozenset({"", "application/x-www-form-urlencoded", "multipart/form-data",
                         "text/plain"})


def check_csrf(token: str | None, *, scripts_may: bool) -> None:
    """Refuse (403 ``csrf_failed``) a change made on credentials a browser adds by itself (a
    session cookie, a remembered password) unless it carries the session's CSRF ``token``
    (the ``X-CSRF-Token`` header, or a form's ``csrf`` field) or, where ``scripts_may``, is a
    request only a script can make: one a page on another site could only send after asking
    (a CORS preflight, which neither app ever grants: a method other than POST, or a body
    type no form can have, such as JSON or CSV), not marked by the browser as sent from
    another site. An empty POST is no exception."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get("X-CSRF-Token") or (
        request.form.get("csrf", "") if request.mimetype ==
        "application/x-www-form-urlencoded" else "")
    if token and sent and hmac.compare_digest(sent, token):
        return
    if scripts_may and (request.method != "POST" or request.mimetype not in _FORM_TYPES) \
            and request.headers.get("Sec-Fetch-Site", "none") in ("same-origin", "none"):
        return
    raise Forbidden("The request lacks this session's CSRF token.", code="csrf_failed")


def after_answer(work: Callable[[], None]) -> None:
    """Run ``work`` (in the app's context) once the answer has gone to the client, so that
    its time is no part of the answer's: what it does must not show in how long the answer
    took (mail sent, or not, for an address that may be unknown). A failure is logged."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def run() -> None:
        with app.app_context():
            try:
                work()
            except Exception:  # noqa: BLE001 - the answer is gone; the log keeps the failure
                log.exception("work after the answer failed")

    @after_this_request
    def _hook(response: Response) -> Response:
        response.call_on_close(run)
        return response


def storage_failure(err: Exception) -> KassaError | None:
    """The refusal for a storage failure a till meets in real life, by what SQLite or the
    driver says; None for any other database error."""
    text = str(getattr(err, "orig", err)).lower()
    if "disk is full" in text:
        return KassaError("The disk is full: nothing was saved. Free space on this till, then "
                          "try again.", code="storage_full", status=503)
    if "readonly" in text or "read-only" in text:
        return KassaError("The database cannot be written (read-only): nothing was saved. "
                          "Call support.", code="storage_read_only", status=503)
    if "database is locked" in text:
        return KassaError("The database is busy: nothing was saved. Try again in a moment.",
                          code="storage_busy", status=503)
    if "disk i/o error" in text:
        return KassaError("The disk reported an error: nothing was saved. Call support.",
                          code="storage_io_error", status=503)
    if "too many clients" in text or "too many connections" in text \
            or "remaining connection slots" in text:
        # PostgreSQL's max_connections reached (app servers x workers x pool): shed the load.
        busy = KassaError("The database has no connection to spare: nothing was saved. Try "
                          "again in a few seconds.", code="storage_unavailable", status=503)
        busy.headers = {"Retry-After": "5"}
        return busy
    return None


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(KassaError)
    def _kassa_error(err: KassaError) -> ResponseReturnValue:
        return jsonify(err.to_dict(gettext)), err.status, err.headers or {}

    @app.errorhandler(OperationalError)
    def _storage(err: OperationalError) -> ResponseReturnValue:
        refusal = storage_failure(err)
        if refusal is None:
            log.exception("database error")
            return _api(app).handle_http_exception(InternalServerError())
        log.error("storage failure: %s", err.orig)
        return jsonify(refusal.to_dict(gettext)), refusal.status, refusal.headers or {}

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> ResponseReturnValue:
        if isinstance(err, HTTPException):
            return _api(app).handle_http_exception(err)
        log.exception("unhandled error")
        return _api(app).handle_http_exception(InternalServerError())


def _api(app: Flask) -> KassaApi:
    """The app's KassaApi, which ``make_api`` registers before any handler can run."""
    api: KassaApi = app.extensions["kassa_api"]
    return api


MAX_INFLATED_BODY = 64 * 1024 * 1024


# A NUL character, raw or as JSON's escape (not an escaped backslash before "u0000"): no
# database text column takes it (PostgreSQL refuses it outright), so no body may carry one.
_NUL_ESCAPE = re.compile(rb"(?:^|[^\\])(?:\\\\)*\\u0000")


# The OpenAPI schema of a CSV download (``csv_response``), to document with content_type="text/csv".
CSV_TEXT = {"type": "string", "description": "CSV: a header row, then one row per record"}


def csv_response(filename: str, rows: Sequence[Mapping[str, Any]]) -> Response:
    """A report's rows as a CSV download (formula-safe cells: ``spreadsheet.csv_text``)."""
    from kassa.common.formats.spreadsheet import csv_text
    return Response(csv_text(rows), mimetype="text/csv", headers={
        "Content-Disposition": f"attachment; filename={filename}.csv"})


def _has_nul(body: bytes) -> bool:
    return bool(body) and (b"\x00" in body or (b"\\u0000" in body
                                                  and _NUL_ESCAPE.search(body) is not None))


def _refuse_cut_stream(request: Request, raw: bytes) -> None:
    """A body sent without a length (chunked) is read up to the app's limit and no further:
    werkzeug then hands over the first part as if it were all. A byte beyond the limit means
    the body was larger: refused whole (413), never parsed cut short."""
    limit = request.max_content_length
    if limit is None or request.content_length is not None or len(raw) < limit:
        return
    stream = request.environ.get("wsgi.input")
    if stream is not None and stream.read(1):
        raise RequestEntityTooLarge()


MAX_JSON_DEPTH = 64  # far deeper than any document of ours nests
# A surrogate escape, the only way a JSON text carries a lone one (UTF-8 cannot).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _check_json(body: bytes) -> None:
    """Refuse (400 ``invalid_json``) a JSON body no handler should meet: one nested deeper than
    ``MAX_JSON_DEPTH`` (100,000 levels ran Python out of stack: a 500), or a string holding a
    lone surrogate such as ``"\\ud800"`` (no database or encoder takes it: a 500 further on)."""
    if not body:
        return
    try:
        doc = json.loads(body)
    except RecursionError:
        raise _too_deep() from None
    except ValueError:
        return  # not JSON at all: the handler's parser answers that
    surrogates = _SURROGATE_ESCAPE.search(body) is not None
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH and not surrogates:
        return
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            items: Iterable[Any] = value.values()
            if surrogates:
                _valid_text(*value)
        elif isinstance(value, list):
            items = value
        else:
            if surrogates and isinstance(value, str):
                _valid_text(value)
            continue
        if depth > MAX_JSON_DEPTH:
            raise _too_deep()
        stack.extend((item, depth + 1) for item in items)


def _too_deep() -> KassaError:
    return KassaError("The body nests deeper than %(most)s levels.", code="invalid_json",
                      status=400, most=MAX_JSON_DEPTH)


def _valid_text(*texts: str) -> None:
    for text in texts:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise KassaError("The body holds a lone surrogate code point: not valid text.",
                             code="invalid_json", status=400) from None


def make_api(app: Flask, title: str) -> KassaApi:
    """flask-smorest with OpenAPI at /api/openapi.json and kassa's error shape."""
    app.config.setdefault("API_TITLE", title)
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    api = KassaApi(app)
    app.extensions["kassa_api"] = api
    register_error_handlers(app)
    _accept_gzip_bodies(app)
    _security_headers(app)
    return api


# Scripts only from the app's own files (no inline script, no eval: an injected tag does not
# run); styles may be inline (the chart library writes its own); no page of ours in a frame.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _security_headers(app: Flask) -> None:
    """On every answer of the app, errors and static files included."""

    @app.after_request
    def _add(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response


def _accept_gzip_bodies(app: Flask) -> None:
    """Inflate ``Content-Encoding: gzip`` bodies before parsing; keep the raw bytes for signing."""

    @app.before_request
    def _inflate() -> None:
        from flask import g, request

        raw = request.get_data(cache=True)
        _refuse_cut_stream(request, raw)
        g.raw_body = raw
        if raw and request.method in ("POST", "PUT", "PATCH") and not request.is_json \
                and request.mimetype != "text/csv" \
                and request.path.startswith("/api/"):  # pages' forms post form data
            raise KassaError("Send the body as application/json.",
                             code="unsupported_media_type", status=415)
        if request.headers.get("Content-Encoding", "").lower() == "gzip":
            inflater = zlib.decompressobj(wbits=31)
            try:
                body = inflater.decompress(raw, MAX_INFLATED_BODY)
            except zlib.error:
                raise KassaError("The body is not valid gzip.", code="bad_encoding",
                                 status=400) from None
            if inflater.unconsumed_tail:
                raise KassaError("The inflated body is too large.", code="payload_too_large",
                                 status=413)
            request._cached_data = body  # what get_json() and webargs will read
        if _has_nul(request.get_data(cache=True)) or "\x00" in request.path \
                or b"%00" in request.query_string:
            raise KassaError("Text may not contain NUL characters.", code="bad_characters",
                             status=422)
        if request.is_json:
            _check_json(request.get_data(cache=True))

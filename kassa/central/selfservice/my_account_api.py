"""The customer's own JSON API (``/api/v1/me``): sign in with card number and web PIN, or
with a one-time code mailed to them (which also lets them set their own web PIN), then read
their points and purchases, change consents, report a lost card.

The customer's session lives in the same signed cookie as staff sessions but under its own key
(``me``); it is never a staff sign-in, and staff credentials never open it. Sign-in is limited
per client address (the lead form's mechanism: hashed addresses in ``form_submissions``) and
per card (``selfservice.MAX_FAILURES``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta
from functools import wraps

import marshmallow as ma
from flask import current_app, request, session
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate
from sqlalchemy import delete, func, select

from kassa.central.crm import customer_receipts, mail, profiles
from kassa.central.handlers import db
from kassa.central.models import Card, FormSubmission
from kassa.central.selfservice import my_account as selfservice
from kassa.common.db import utcnow
from kassa.common.errors import Forbidden, KassaError, NotFound, Unauthorized
from kassa.common.web import ErrorSchema, after_answer, check_csrf

bp = Blueprint("selfservice", __name__, url_prefix="/api/v1/me",
               description="The customer's own page: points, purchases, consents, lost card")
SIGN_IN_LIMIT = (timedelta(minutes=15), 20)  # attempts per client address


class CardNumber(fields.String):
    """A card number as it is printed and typed: groups of four with spaces or dashes between
    (``7770 0000 0000 0001``, ``7770-0000-...``) are its 16 digits."""

    def __init__(self, **kwargs):
        super().__init__(validate=validate.Regexp(r"^[0-9]{16}\Z",
                                                  error="A card number is 16 digits."), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        return re.sub(r"[\s-]", "", text) if len(text) <= 40 else text


class SignInSchema(ma.Schema):
    """Card number and web PIN, or e-mail address and the code mailed to it."""

    card_number = CardNumber()
    pin = fields.String(validate=validate.Length(min=4, max=12))
    email = fields.Email(validate=validate.Length(max=200))
    code = fields.String(validate=validate.Regexp(r"^[0-9]{6}\Z"))

    @ma.validates_schema
    def _one_way(self, data, **kwargs):
        by_pin = "card_number" in data and "pin" in data
        by_code = "email" in data and "code" in data
        if by_pin == by_code:
            raise ma.ValidationError("Give card_number and pin, or email and code.")


class CodeRequestSchema(ma.Schema):
    email = fields.Email(required=True, validate=validate.Length(max=200))


class CodeSentSchema(ma.Schema):
    minutes = fields.Integer(metadata={"description": "how long a code works"})


class SignedInSchema(ma.Schema):
    name = fields.String()
    csrf = fields.String()


class PageArgs(ma.Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10_000))


class PointsRowSchema(ma.Schema):
    """A purchase (its receipt's lines together), a return, an expiry run, or another entry."""

    kind = fields.String(metadata={"description": "purchase, return, expiry, adjustment, ..."})
    at = fields.DateTime()
    receipt_no = fields.String(allow_none=True)
    store_name = fields.String(allow_none=True)
    total_minor = fields.Integer(allow_none=True)
    voided = fields.Boolean()
    earned = fields.Integer()
    spent = fields.Integer(metadata={"description": "0 or less"})
    points = fields.Integer(metadata={"description": "earned + spent"})


class PointsPageSchema(ma.Schema):
    page = fields.Integer()
    pages = fields.Integer()
    items = fields.List(fields.Nested(PointsRowSchema))


class MyConsentSchema(ma.Schema):
    granted = fields.Boolean(required=True)


class LostSchema(ma.Schema):
    card_number = CardNumber(required=True)


class PinWithCodeSchema(ma.Schema):
    """The e-mail address, the code mailed to it, and the new web PIN."""

    email = fields.Email(required=True, validate=validate.Length(max=200))
    code = fields.String(required=True, validate=validate.Regexp(r"^[0-9]{6}\Z"))
    pin = fields.String(required=True, validate=validate.Length(max=40))


class PinSetSchema(SignedInSchema):
    card_number = fields.String(metadata={"description": "the card the PIN is for"})


def _client() -> str:
    secret = current_app.secret_key or ""
    # !s: what f"{secret}" gives anyway; central sets a str key (Flask's type allows bytes).
    return hashlib.sha256(f"{secret!s}|me|{request.remote_addr}".encode()).hexdigest()


def _too_many(db_session, client: str) -> bool:
    window, most = SIGN_IN_LIMIT
    now = utcnow()
    if db_session.scalar(select(func.count()).where(FormSubmission.client_hash == client,
                                                    FormSubmission.at > now - window)) >= most:
        return True
    db_session.add(FormSubmission(client_hash=client, at=now))
    if now.second == 0:
        db_session.execute(delete(FormSubmission).where(
            FormSubmission.client_hash == client, FormSubmission.at < now - window))
    return False


def _customer_session(view):
    """401 before anything else (the body's validation too) without a customer session."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not isinstance(session.get("me"), dict):
            raise Unauthorized("Sign in with your card number and PIN.", code="auth_required")
        return view(*args, **kwargs)
    return wrapper


def signed_in_customer(db_session):
    """The signed-in customer (401 without a customer session); unsafe requests must carry
    the session's CSRF token."""
    me = session.get("me")
    if not isinstance(me, dict):
        raise Unauthorized("Sign in with your card number and PIN.", code="auth_required")
    if request.method not in ("GET", "HEAD", "OPTIONS") and not hmac.compare_digest(
            request.headers.get("X-CSRF-Token", ""), me.get("csrf", "-")):
        raise Forbidden("The request lacks this session's CSRF token.", code="csrf_failed")
    customer = selfservice.customer(db_session, me["customer"])
    card = db_session.get(Card, me["card"])
    if customer is None or card is None or card.status not in ("issued", "active"):
        session.pop("me", None)  # the card was replaced or reported lost: sign in again
        raise Unauthorized("Sign in with your card number and PIN.", code="auth_required")
    return customer


@bp.route("/sign-in")
class SignIn(MethodView):
    @bp.arguments(SignInSchema)
    @bp.response(200, SignedInSchema)
    @bp.alt_response(401, schema=ErrorSchema, description="bad_credentials")
    @bp.alt_response(429, schema=ErrorSchema, description="card_locked or rate_limited")
    def post(self, body):
        """Sign in with the card number and its web PIN, or with the e-mail address and the
        code mailed to it (no staff sign-in is touched)."""
        client = _client()
        with db().transaction() as db_session:
            if _too_many(db_session, client):
                outcome = "rate_limited"
            elif "pin" in body:
                outcome = selfservice.sign_in(db_session, body["card_number"], body["pin"],
                                              client)
                outcome = outcome if isinstance(outcome, str) else (outcome, body["card_number"])
            else:
                outcome = selfservice.sign_in_with_code(db_session, body["email"], body["code"],
                                                        client)
                outcome = outcome if isinstance(outcome, str) else \
                    (outcome[0], outcome[1].card_number)
        _refuse(outcome, "pin" in body)
        customer, card_number = outcome
        return {"name": customer.name, "csrf": _open_session(customer, card_number)}


def _open_session(customer, card_number: str) -> str:
    """Make this browser's session the customer's; returns its CSRF token."""
    lang = session.get("lang")
    session.clear()  # a staff sign-in in this browser ends: one person per session
    if lang:
        session["lang"] = lang
    csrf = secrets.token_urlsafe(32)
    session["me"] = {"card": card_number, "customer": str(customer.id), "csrf": csrf}
    session.permanent = True
    return csrf


def _refuse(outcome, by_pin: bool) -> None:
    if outcome == "rate_limited":
        raise KassaError("Too many sign-ins from here; try again later.",
                         code="rate_limited", status=429,
                         details={"retry_after_s": int(SIGN_IN_LIMIT[0].total_seconds())})
    if outcome == "card_locked":
        raise KassaError("Too many wrong PINs or codes: this card's sign-in is closed for "
                         "%(minutes)s minutes.", code="card_locked", status=429,
                         minutes=int(selfservice.LOCKOUT.total_seconds() // 60))
    if isinstance(outcome, str) and by_pin:
        raise Unauthorized("Card number or PIN is wrong.", code="bad_credentials")
    if isinstance(outcome, str):
        raise Unauthorized("The code is wrong or no longer valid.", code="bad_credentials")


@bp.route("/code")
class Code(MethodView):
    @bp.arguments(CodeRequestSchema)
    @bp.response(202, CodeSentSchema)
    @bp.alt_response(429, schema=ErrorSchema, description="rate_limited")
    def post(self, body):
        """Mail a one-time sign-in code to this address, if it is a card holder's. The answer
        is the same whether it is or not, and so is its time: the mail goes out after the
        answer (or at the mail job's next round)."""
        client = _client()
        with db().transaction() as db_session:
            limited = _too_many(db_session, client)
            if not limited:
                selfservice.mail_code(db_session, body["email"], client)
        if limited:
            _refuse("rate_limited", False)
        after_answer(_send_mail)
        return {"minutes": int(selfservice.CODE_TTL.total_seconds() // 60)}


def _send_mail() -> None:
    with db().transaction() as db_session:
        mail.send_pending(db_session)


@bp.route("/web-pin")
class WebPin(MethodView):
    @bp.arguments(PinWithCodeSchema)
    @bp.response(200, PinSetSchema)
    @bp.alt_response(401, schema=ErrorSchema, description="bad_credentials")
    @bp.alt_response(422, schema=ErrorSchema, description="bad_pin")
    @bp.alt_response(429, schema=ErrorSchema, description="card_locked or rate_limited")
    def post(self, body):
        """Set your own web PIN with the code mailed to you (``POST /code``), and be signed
        in. The code is spent; a wrong or unknown one is refused as a sign-in with it is."""
        selfservice.check_web_pin(body["pin"])
        client = _client()
        with db().transaction() as db_session:
            if _too_many(db_session, client):
                outcome = "rate_limited"
            else:
                outcome = selfservice.set_pin_with_code(db_session, body["email"],
                                                        body["code"], body["pin"], client)
                outcome = outcome if isinstance(outcome, str) else \
                    (outcome[0], outcome[1].card_number)
        _refuse(outcome, False)
        customer, card_number = outcome
        return {"name": customer.name, "csrf": _open_session(customer, card_number),
                "card_number": card_number}


@bp.route("/sign-out")
class SignOut(MethodView):
    @bp.response(204)
    def post(self):
        """End the customer's session (with its CSRF token: another site cannot sign the
        customer out)."""
        me = session.get("me")
        if isinstance(me, dict):
            check_csrf(me.get("csrf", "-"), scripts_may=False)
            session.pop("me", None)


@bp.route("")
class Summary(MethodView):
    decorators = [_customer_session]

    @bp.response(200)
    def get(self):
        """Balance, tier and what the next tier needs, points expiring, cards, consents."""
        with db().read() as db_session:
            return selfservice.summary(db_session, signed_in_customer(db_session))


@bp.route("/purchases")
class Purchases(MethodView):
    decorators = [_customer_session]

    @bp.arguments(PageArgs, location="query")
    @bp.response(200)
    def get(self, args):
        """Purchases in every store, newest first, a page at a time."""
        with db().read() as db_session:
            return selfservice.purchases(db_session, signed_in_customer(db_session),
                                         args["page"])


@bp.route("/receipts/<string(maxlength=64):receipt_no>")
class Receipt(MethodView):
    decorators = [_customer_session]

    @bp.response(200)
    def get(self, receipt_no):
        """One of the customer's receipts: lines, payments, its fiscal receipt, returns."""
        with db().read() as db_session:
            return customer_receipts.customer_receipt(
                db_session, signed_in_customer(db_session), receipt_no)


@bp.route("/points")
class Points(MethodView):
    decorators = [_customer_session]

    @bp.arguments(PageArgs, location="query")
    @bp.response(200, PointsPageSchema)
    def get(self, args):
        """Points earned, spent and expired, newest first, a purchase a row, a page at a
        time."""
        with db().read() as db_session:
            return selfservice.points(db_session, signed_in_customer(db_session), args["page"])


@bp.route("/offers")
class Offers(MethodView):
    decorators = [_customer_session]

    @bp.response(200)
    def get(self):
        """The customer's current personal offers (only with their consent to offers)."""
        with db().read() as db_session:
            return selfservice.offers_for(db_session, signed_in_customer(db_session))


@bp.route("/consents/<string(maxlength=12):channel>")
class Consent(MethodView):
    decorators = [_customer_session]

    @bp.arguments(MyConsentSchema)
    @bp.response(204)
    def put(self, body, channel):
        """Give or withdraw a consent (audited, published like a change made by staff)."""
        if channel not in profiles.CONSENT_CHANNELS:
            raise NotFound("No consent channel %(channel)s.", code="bad_channel", channel=channel)
        with db().transaction() as db_session:
            selfservice.set_consent(db_session, signed_in_customer(db_session), channel,
                                    body["granted"])


@bp.route("/lost-card")
class LostCard(MethodView):
    decorators = [_customer_session]

    @bp.arguments(LostSchema)
    @bp.response(204)
    def post(self, body):
        """Report the card lost: blocked at once everywhere, a replacement asked for."""
        with db().transaction() as db_session:
            selfservice.report_lost(db_session, signed_in_customer(db_session),
                                    body["card_number"])

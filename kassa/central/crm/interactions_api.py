"""Contacts from every channel into the customer's timeline.

``POST /api/v1/interactions`` is for staff and integrations (a telephony system, a mail
gateway, a chat widget): the customer is matched by card, phone or e-mail, or becomes a new
lead. ``POST /api/v1/public/leads`` is the website's form: no sign-in, so it is rate-limited
per client address and guarded against bots (a hidden field people leave empty, a minimum time
to fill the form); what it learns becomes a lead with its source (campaign, referrer, UTM
tags), or a contact of the customer it matches.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import marshmallow as ma
from flask import current_app, g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate, validates_schema
from sqlalchemy import delete, func, select

from kassa.central.access.auth import require_role
from kassa.central.crm import interactions, profiles, tasks
from kassa.central.handlers import PEOPLE, ImportArgsSchema, csv_body, db
from kassa.central.models import FormSubmission, Store
from kassa.common.db import utcnow
from kassa.common.errors import KassaError, NotFound
from kassa.common.web import ErrorSchema, report_or_refusal

bp = Blueprint("interactions", __name__, url_prefix="/api/v1",
               description="Contacts from every channel; the website's lead form")
# The web form: this many posts per client address per window, then 429.
FORM_LIMITS = ((timedelta(minutes=10), 5), (timedelta(days=1), 20))
FORM_MIN_FILL_MS = 1500  # a person takes longer than this to fill the form in


class MatchSchema(ma.Schema):
    card_number = fields.String(validate=validate.Regexp(r"^[0-9]{16}\Z"))
    phone = fields.String(validate=validate.Length(min=5, max=32))
    email = fields.String(validate=validate.Length(min=3, max=200))


class LeadSchema(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    phone = fields.String(load_default=None, validate=validate.Length(min=5, max=32))
    email = fields.String(load_default=None, validate=validate.Length(min=3, max=200))
    store_code = fields.String(load_default=None, validate=validate.Length(min=1, max=32))


class InteractionInSchema(ma.Schema):
    channel = fields.String(required=True, validate=validate.OneOf(interactions.CHANNELS))
    direction = fields.String(load_default="in", validate=validate.OneOf(("in", "out")))
    subject = fields.String(required=True, validate=validate.Length(min=1, max=200))
    body = fields.String(load_default="", validate=validate.Length(max=20_000))
    at = fields.AwareDateTime(load_default=None, allow_none=True)
    match = fields.Nested(MatchSchema, required=True, metadata={
        "description": "how to find the customer: card_number, phone or email"})
    lead = fields.Nested(LeadSchema, load_default=None, allow_none=True, metadata={
        "description": "who it is when nobody matches (else customer_not_found)"})
    external_id = fields.String(load_default=None, validate=validate.Length(min=1, max=100),
                                metadata={"description": "the sender's id: a repeat is a no-op"})
    source = fields.Dict(load_default=None, allow_none=True)


class InteractionOutSchema(ma.Schema):
    id = fields.UUID()
    customer_id = fields.UUID()
    created_lead = fields.Boolean()
    repeated = fields.Boolean(metadata={"description": "external_id seen before"})


def _scoped_store(session, code: str | None, user=None) -> Store | None:
    """The store named by ``code``, if the person (None: the public form) may name it."""
    if not code:
        return None
    store = session.scalars(select(Store).where(Store.code == code)).first()
    if store is None or (user is not None and (
            (user.role == "regional_manager" and store.region_id != user.region_id)
            or (user.role == "store_manager" and store.id != user.store_id))):
        raise NotFound("No store %(store)s.", code="store_not_found", store=code)
    return store


@bp.route("/interactions")
class Interactions(MethodView):
    decorators = [require_role(*PEOPLE)]

    @bp.arguments(InteractionInSchema)
    @bp.response(201, InteractionOutSchema)
    def post(self, body):
        """A contact on any channel, matched to a customer by card, phone or e-mail, or made
        a new lead; an ``external_id`` seen before changes nothing."""
        match = body["match"]
        if not match:
            raise KassaError("Say how to find the customer.", code="match_required",
                             status=422)
        reach = profiles.Reach.of(g.user)
        with db().transaction() as session:
            # A customer beyond the reader's reach is answered as nobody: a new lead, or 404.
            customer = profiles.find(session, **match, reach=reach)
            created = False
            if customer is None:
                lead = body["lead"]
                if lead is None:
                    raise NotFound("Nobody matches; send a lead to create one.",
                                   code="customer_not_found")
                store = _scoped_store(session, lead["store_code"], g.user)
                customer = interactions.new_lead(session, lead["name"], phone=lead["phone"] or
                                                 match.get("phone"), email=lead["email"] or
                                                 match.get("email"),
                                                 source={"channel": body["channel"],
                                                         **(body["source"] or {})},
                                                 home_store=store)
                created = True
            if body["external_id"]:
                earlier = interactions.by_external_id(session, body["external_id"])
                if earlier is not None and earlier.customer_id != customer.id:
                    raise KassaError("That external id was used for another contact.",
                                     code="external_id_taken", status=409)
            row, new = interactions.record_interaction(
                session, customer, channel=body["channel"], direction=body["direction"],
                subject=body["subject"], body=body["body"], at=body["at"],
                user_id=g.user.id, external_id=body["external_id"], source=body["source"])
            return {"id": row.id, "customer_id": row.customer_id, "created_lead": created,
                    "repeated": not new}


class ContactsImportReportSchema(ma.Schema):
    written = fields.Boolean()
    created = fields.Integer()
    repeated = fields.Integer()
    leads = fields.Integer()
    skipped = fields.Integer()
    errors = fields.List(fields.Dict())


@bp.route("/interactions/import")
class ImportInteractions(MethodView):
    decorators = [require_role(*PEOPLE)]

    @bp.arguments(ImportArgsSchema, location="query")
    @bp.response(200, ContactsImportReportSchema)
    @bp.alt_response(422, schema=report_or_refusal(ContactsImportReportSchema),
                     description="bad rows, nothing written")
    def post(self, args):
        """Contacts from another system as CSV (``text/csv``; columns ``channel, direction,
        subject, body, at, card_number, phone, email, lead_name, external_id``): all or
        nothing, or ``?skip_bad=true`` with a report; a repeated ``external_id`` is skipped."""
        text = csv_body()
        with db().transaction() as session:
            report = interactions.import_interactions(
                session, text, g.user, profiles.Reach.of(g.user), skip_bad=args["skip_bad"])
        answer = ContactsImportReportSchema().dump(report)
        return (answer, 422) if report.errors and not args["skip_bad"] else answer


class WebFormSchema(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    phone = fields.String(load_default=None, validate=validate.Length(min=5, max=32))
    email = fields.String(load_default=None, validate=validate.Length(min=3, max=200))
    message = fields.String(load_default="", validate=validate.Length(max=5000))
    store_code = fields.String(load_default=None, validate=validate.Length(min=1, max=32))
    consent_email = fields.Boolean(load_default=False)
    consent_sms = fields.Boolean(load_default=False)
    campaign = fields.String(load_default=None, validate=validate.Length(max=100))
    referrer = fields.String(load_default=None, validate=validate.Length(max=500))
    utm_source = fields.String(load_default=None, validate=validate.Length(max=100))
    utm_medium = fields.String(load_default=None, validate=validate.Length(max=100))
    utm_campaign = fields.String(load_default=None, validate=validate.Length(max=100))
    website = fields.String(load_default="", metadata={
        "description": "hidden from people; a bot fills it in"})
    fill_ms = fields.Integer(load_default=None, allow_none=True, metadata={
        "description": "how long the form was open before sending, in ms"})

    @validates_schema
    def reachable(self, data, **_kwargs):
        if not data.get("phone") and not data.get("email"):
            raise ma.ValidationError("A phone number or an e-mail address.", "phone")


class ReceivedSchema(ma.Schema):
    received = fields.Boolean()


def _client_hash() -> str:
    """The client's address, hashed (the limit needs no address kept in clear)."""
    secret = current_app.secret_key or ""
    # !s: what f"{secret}" gives anyway; central sets a str key (Flask's type allows bytes).
    return hashlib.sha256(f"{secret!s}|{request.remote_addr}".encode()).hexdigest()


def _rate_limited(session, client: str) -> int | None:
    """Seconds to wait when this client sent too many forms, else None (and count this one)."""
    now = utcnow()
    for window, most in FORM_LIMITS:
        sent = session.scalar(select(func.count()).where(
            FormSubmission.client_hash == client, FormSubmission.at > now - window))
        if sent >= most:
            return int(window.total_seconds())
    session.add(FormSubmission(client_hash=client, at=now))
    if now.second == 0:  # now and then, forget what no window looks at any more
        session.execute(delete(FormSubmission).where(
            FormSubmission.at < now - FORM_LIMITS[-1][0]))
    return None


@bp.route("/public/leads")
class WebForm(MethodView):
    @bp.arguments(WebFormSchema)
    @bp.response(202, ReceivedSchema)
    @bp.alt_response(429, schema=ErrorSchema, description="rate_limited: too many forms from "
                     "this client; details.retry_after_s says when to try again")
    def post(self, body):
        """The website's contact form: a lead with its source, or a contact of the customer
        it matches. No sign-in; rate-limited per client (429 ``rate_limited``)."""
        with db().transaction() as session:
            wait = _rate_limited(session, _client_hash())
        if wait is not None:
            raise KassaError("Too many forms from here; try again later.",
                             code="rate_limited", status=429,
                             details={"retry_after_s": wait})
        bot = body["website"].strip() or (body["fill_ms"] is not None
                                          and body["fill_ms"] < FORM_MIN_FILL_MS)
        if bot:
            return {"received": True}  # told nothing: a bot learns nothing to adapt to
        source = {k: body[k] for k in ("campaign", "referrer", "utm_source", "utm_medium",
                                       "utm_campaign") if body[k]}
        with db().transaction() as session:
            store = _scoped_store(session, body["store_code"])
            customer = profiles.find(session, phone=body["phone"], email=body["email"])
            created = customer is None
            if created:
                customer = interactions.new_lead(session, body["name"], phone=body["phone"],
                                                 email=body["email"],
                                                 source={"channel": "web_form", **source},
                                                 home_store=store)
            interactions.record_interaction(session, customer, channel="web_form", direction="in",
                                            subject="Web form", body=body["message"],
                                            store_id=store.id if store else None, source=source)
            # Consent from an anonymous form is taken for a new lead only: anyone can type a
            # known customer's phone, and must not overturn their choice (a withdrawal).
            for channel, wanted in (("email", body["consent_email"]),
                                    ("sms", body["consent_sms"])):
                if wanted and created:
                    profiles.set_consent(session, customer, channel, True, "web form")
            # Someone asked to be contacted: a call-back for the store's manager, by the rule.
            tasks.open_task(session, "web_lead", customer=customer,
                            store_id=store.id if store else customer.home_store_id,
                            note=body["message"])
        return {"received": True}

"""Customers at central's API: find them, everything about one (the 360 view), their consents,
contacts logged by staff, and blocks (a blocked customer is sold to only with central's
authorization), and members loaded in bulk from a previous system's export
(``kassa.central.crm.customer_imports``). A regional manager reaches only the customers of their
region's stores, a store manager their store's; anyone else's answers 404, as if they did not
exist."""

from __future__ import annotations

import json

import marshmallow as ma
from flask import Response, g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from kassa.central.access.auth import require_role
from kassa.central.crm import (
    customer_imports,
    customer_receipts,
    data_rights,
    interactions,
    profiles,
    quotes,
)
from kassa.central.handlers import OPERATORS, PEOPLE, STAFF, csv_body, db
from kassa.central.models import Customer
from kassa.common.errors import Conflict
from kassa.common.web import ErrorSchema, FileImportReportSchema, report_or_refusal
from kassa.sync.payloads import jsonable

bp = Blueprint("customers", __name__, url_prefix="/api/v1/customers",
               description="Customers: the 360 view, consents, contacts, blocks")


class CustomerBlockSchema(ma.Schema):
    reason = fields.String(required=True, validate=validate.Length(min=3, max=200))


class CustomerStateSchema(ma.Schema):
    id = fields.UUID()
    name = fields.String()
    blocked = fields.Boolean()
    blocked_at = fields.AwareDateTime(allow_none=True)
    block_reason = fields.String(allow_none=True)


class CustomerBriefSchema(ma.Schema):
    id = fields.UUID()
    name = fields.String()
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    card_number = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "customer | lead"})


class CustomerListSchema(ma.Schema):
    customers = fields.List(fields.Nested(CustomerBriefSchema))


class CustomerQuerySchema(ma.Schema):
    q = fields.String(required=True, validate=validate.Length(min=2, max=100))


class ConsentGivenSchema(ma.Schema):
    channel = fields.String(required=True, validate=validate.OneOf(profiles.CONSENT_CHANNELS))
    granted = fields.Boolean(required=True)
    source = fields.String(required=True, validate=validate.Length(min=1, max=60), metadata={
        "description": "where the customer gave or withdrew it: the shop floor, a call..."})


FORCE = fields.Boolean(load_default=False, metadata={
    "description": "keep it even though it looks like a customer kassa has (409 otherwise)"})


class NewCustomerSchema(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    phone = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32))
    email = fields.String(load_default=None, allow_none=True,
                          validate=validate.Length(max=200))
    birthday = fields.Date(load_default=None, allow_none=True)
    address = fields.String(load_default=None, allow_none=True,
                            validate=validate.Length(max=300))
    home_store_code = fields.String(load_default=None, allow_none=True,
                                    validate=validate.Length(min=1, max=32), metadata={
                                        "description": "a store manager's: their own store"})
    consents = fields.List(fields.Nested(ConsentGivenSchema), load_default=list,
                           validate=validate.Length(max=8))
    force = FORCE


class CustomerPatchSchema(ma.Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    phone = fields.String(allow_none=True, validate=validate.Length(max=32))
    email = fields.String(allow_none=True, validate=validate.Length(max=200))
    birthday = fields.Date(allow_none=True)
    address = fields.String(allow_none=True, validate=validate.Length(max=300))
    home_store_code = fields.String(allow_none=True, validate=validate.Length(min=1, max=32))
    consents = fields.List(fields.Nested(ConsentGivenSchema), validate=validate.Length(max=8))
    force = FORCE


class ConsentSchema(ma.Schema):
    channel = fields.String()
    granted = fields.Boolean()
    at = fields.AwareDateTime(allow_none=True)
    source = fields.String(allow_none=True)


class ConsentInSchema(ma.Schema):
    granted = fields.Boolean(required=True)
    source = fields.String(load_default="office", validate=validate.Length(min=1, max=100),
                           metadata={"description": "where it was given: a call, a letter..."})


class TimelineSchema(ma.Schema):
    at = fields.AwareDateTime()
    kind = fields.String(metadata={"description": "purchase | return | a contact channel"})
    store_code = fields.String(allow_none=True)
    summary = fields.String()
    amount_minor = fields.Integer(allow_none=True)
    receipt_no = fields.String(allow_none=True, metadata={
        "description": "a purchase's receipt, or the one a return was of"})


class InteractionSchema(ma.Schema):
    id = fields.UUID()
    at = fields.AwareDateTime()
    channel = fields.String()
    direction = fields.String()
    subject = fields.String()
    body = fields.String()
    store_code = fields.String(allow_none=True)


class NewContactSchema(ma.Schema):
    channel = fields.String(required=True, validate=validate.OneOf(interactions.CHANNELS))
    direction = fields.String(load_default="in", validate=validate.OneOf(("in", "out")))
    subject = fields.String(required=True, validate=validate.Length(min=1, max=200))
    body = fields.String(load_default="", validate=validate.Length(max=20_000))
    at = fields.AwareDateTime(load_default=None, allow_none=True)


class LikelyDuplicateSchema(ma.Schema):
    id = fields.UUID()
    name = fields.String()
    status = fields.String()
    same = fields.List(fields.String(), metadata={"description": "phone, email or name"})


class ProfileSchema(ma.Schema):
    id = fields.UUID()
    name = fields.String()
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    birthday = fields.Date(allow_none=True)
    status = fields.String()
    card_number = fields.String(allow_none=True, metadata={"description": "the card in use"})
    home_store_code = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    blocked = fields.Boolean()
    lead_source = fields.Dict(allow_none=True)
    consents = fields.List(fields.Nested(ConsentSchema))
    consent_history = fields.List(fields.Nested(ConsentSchema))
    cards = fields.List(fields.Dict())
    loyalty = fields.Dict(allow_none=True)
    purchases = fields.Dict()
    returns = fields.List(fields.Dict())
    interactions = fields.List(fields.Nested(InteractionSchema))
    timeline = fields.List(fields.Nested(TimelineSchema))
    scores = fields.Dict(allow_none=True, metadata={
        "description": "segment, RFM scores, p_alive, expected purchases, 12-month value"})
    offers = fields.List(fields.Dict(), metadata={"description": "offers shown or held out"})
    likely_duplicate = fields.Nested(LikelyDuplicateSchema, allow_none=True, metadata={
        "description": "the record most likely the same person: merge them if so"})


def _state(c: Customer) -> dict:
    return {"id": c.id, "name": c.name, "blocked": c.blocked_at is not None,
            "blocked_at": c.blocked_at, "block_reason": c.block_reason}


@bp.route("")
class Customers(MethodView):
    decorators = [require_role(*PEOPLE)]

    @bp.arguments(CustomerQuerySchema, location="query")
    @bp.response(200, CustomerListSchema)
    def get(self, args):
        """Customers and leads by card number, phone, e-mail or part of the name."""
        with db().read() as session:
            return {"customers": profiles.search(session, profiles.Reach.of(g.user), args["q"])}

    @bp.arguments(NewCustomerSchema)
    @bp.response(201, CustomerBriefSchema)
    @bp.alt_response(409, schema=ErrorSchema, description="``likely_duplicate``: "
                     "``details.customer_id`` is the record it looks like")
    def post(self, body):
        """Open a customer: name, phone, e-mail, birthday, home store, the consents they give
        (with where they gave them). Audited; the tills get the record at their next pull."""
        with db().transaction() as session:
            return profiles.open_customer(session, g.user, **body)


@bp.route("/<uuid:customer_id>")
class OneCustomer(MethodView):
    decorators = [require_role(*PEOPLE)]

    @bp.arguments(CustomerPatchSchema)
    @bp.response(200, CustomerBriefSchema)
    def patch(self, body, customer_id):
        """Correct a customer's name, phone, e-mail, birthday, address or home store, or record
        consents (audited; the tills get the record at their next pull). A change that makes
        the record look like another answers 409 with the other's id unless ``force``."""
        with db().transaction() as session:
            customer = profiles.reachable(session, profiles.Reach.of(g.user), customer_id,
                                          writable=True)
            return profiles.update_profile(session, customer, body, g.user)

    @bp.response(200, ProfileSchema)
    def get(self, customer_id):
        """Everything about one customer: profile, consents, cards, points, purchases and
        returns in every store, contacts on every channel, and their timeline."""
        with db().read() as session:
            reach = profiles.Reach.of(g.user)
            customer = profiles.reachable(session, reach, customer_id)
            view = profiles.profile(session, customer, reach)
        # The free-form parts as JSON text now: the schema's Dict fields pass values as is.
        for part in ("cards", "loyalty", "purchases", "returns"):
            view[part] = jsonable(view[part])
        return view


class ReceiptLineSchema(ma.Schema):
    line_no = fields.Integer()
    sku = fields.String()
    name = fields.String()
    quantity_milli = fields.Integer()
    unit_price_minor = fields.Integer()
    discount_minor = fields.Integer()
    amount_minor = fields.Integer()
    points_earned = fields.Integer()


class ReceiptPaymentSchema(ma.Schema):
    method = fields.String()
    amount_minor = fields.Integer()


class ReceiptReturnSchema(ma.Schema):
    return_no = fields.String()
    returned_at = fields.AwareDateTime()
    total_minor = fields.Integer()


class FiscalReceiptSchema(ma.Schema):
    document_number = fields.Integer()
    fiscal_sign = fields.String()
    drive_number = fields.String()


class ReceiptSchema(ma.Schema):
    receipt_no = fields.String()
    sold_at = fields.AwareDateTime()
    status = fields.String(metadata={"description": "completed | post_voided"})
    store_code = fields.String(allow_none=True)
    store_name = fields.String(allow_none=True)
    cashier = fields.String(allow_none=True)
    gross_minor = fields.Integer()
    discount_minor = fields.Integer()
    total_minor = fields.Integer()
    points_burned = fields.Integer()
    points_earned = fields.Integer()
    lines = fields.List(fields.Nested(ReceiptLineSchema))
    payments = fields.List(fields.Nested(ReceiptPaymentSchema))
    returns = fields.List(fields.Nested(ReceiptReturnSchema))
    fiscal = fields.Nested(FiscalReceiptSchema, allow_none=True, metadata={
        "description": "the till's fiscal register's receipt (54-FZ); null: not fiscalised"})


@bp.route("/<uuid:customer_id>/receipts/<string(maxlength=64):receipt_no>")
class CustomerReceipt(MethodView):
    decorators = [require_role(*PEOPLE)]

    @bp.response(200, ReceiptSchema)
    def get(self, customer_id, receipt_no):
        """One of the customer's receipts: lines, payments, points earned and paid, returns."""
        with db().read() as session:
            customer = profiles.reachable(session, profiles.Reach.of(g.user), customer_id)
            return customer_receipts.customer_receipt(session, customer, receipt_no)


@bp.route("/<uuid:customer_id>/consents/<string(maxlength=12):channel>")
class CustomerConsent(MethodView):
    decorators = [require_role(*PEOPLE)]

    @bp.arguments(ConsentInSchema)
    @bp.response(200, ConsentSchema)
    def put(self, body, customer_id, channel):
        """Record a consent given or withdrawn (kept with its history and in the audit log)."""
        with db().transaction() as session:
            customer = profiles.reachable(session, profiles.Reach.of(g.user), customer_id,
                                          writable=True)
            row = profiles.set_consent(session, customer, channel, body["granted"],
                                       f"{body['source']} ({g.user.username})", g.user)
            return {"channel": row.channel, "granted": row.granted, "at": row.at,
                    "source": row.source}


@bp.route("/<uuid:customer_id>/interactions")
class CustomerContacts(MethodView):
    decorators = [require_role(*PEOPLE)]

    @bp.arguments(NewContactSchema)
    @bp.response(201, InteractionSchema)
    def post(self, body, customer_id):
        """Log a contact with the customer (a call taken, a letter sent...)."""
        with db().transaction() as session:
            customer = profiles.reachable(session, profiles.Reach.of(g.user), customer_id,
                                          writable=True)
            row, _new = interactions.record_interaction(
                session, customer, channel=body["channel"], direction=body["direction"],
                subject=body["subject"], body=body["body"], at=body["at"],
                store_id=g.user.store_id, user_id=g.user.id)
            return {"id": row.id, "at": row.at, "channel": row.channel,
                    "direction": row.direction, "subject": row.subject, "body": row.body,
                    "store_code": None}


class DocumentLineSchema(ma.Schema):
    sku = fields.String(required=True, validate=validate.Length(min=1, max=64))
    quantity = fields.Integer(required=True, strict=True,
                              validate=validate.Range(min=1, max=100_000))


class DocumentInSchema(ma.Schema):
    kind = fields.String(required=True, validate=validate.OneOf(tuple(quotes.DOCUMENT_TITLES)))
    items = fields.List(fields.Nested(DocumentLineSchema), required=True,
                        validate=validate.Length(min=1, max=200))
    valid_days = fields.Integer(load_default=14, validate=validate.Range(min=1, max=365))


@bp.route("/<uuid:customer_id>/documents")
class Documents(MethodView):
    decorators = [require_role(*PEOPLE)]

    @bp.arguments(DocumentInSchema)
    @bp.response(201, {"type": "string", "format": "binary"}, description="the document as PDF",
                 content_type="application/pdf")
    def post(self, body, customer_id):
        """A quote or an invoice for the customer at the chain's prices, as PDF (numbered, kept,
        and on the customer's timeline)."""
        with db().transaction() as session:
            customer = profiles.reachable(session, profiles.Reach.of(g.user), customer_id,
                                          writable=True)
            row, document = quotes.make_document(
                session, customer, body["kind"],
                [(i["sku"], i["quantity"]) for i in body["items"]], g.user, body["valid_days"])
            number = f"{row.kind[0].upper()}-{row.id:06d}"
        return Response(document, status=201, mimetype="application/pdf", headers={
            "Content-Disposition": f"attachment; filename={number}.pdf"})


class ReasonSchema(ma.Schema):
    reason = fields.String(required=True, validate=validate.Length(min=3, max=200))


class MergeSchema(ma.Schema):
    other_id = fields.UUID(required=True, metadata={
        "description": "the duplicate, merged into the customer in the URL"})


class DuplicateGroupSchema(ma.Schema):
    reason = fields.String(metadata={"description": "phone | email | name"})
    value = fields.String()
    customers = fields.List(fields.Nested(CustomerBriefSchema))


class DuplicatesSchema(ma.Schema):
    groups = fields.List(fields.Nested(DuplicateGroupSchema))


@bp.route("/duplicates")
class Duplicates(MethodView):
    decorators = [require_role(*STAFF)]

    @bp.response(200, DuplicatesSchema)
    def get(self):
        """Records that are likely one person: the same phone or e-mail, or the same name with
        the same birthday or home store."""
        with db().read() as session:
            return {"groups": data_rights.duplicates(session, profiles.Reach.of(g.user))}


@bp.route("/<uuid:customer_id>/merge")
class Merge(MethodView):
    # Central office and admins: a merge moves purchases between customers, which a regional
    # manager's transaction may only read (the region wall, decisions #33).
    decorators = [require_role(*OPERATORS)]

    @bp.arguments(MergeSchema)
    @bp.response(200, CustomerBriefSchema)
    def post(self, body, customer_id):
        """Merge a duplicate into this customer: purchases, points, cards, consents and
        contacts move over (audited; the tills drop the duplicate at their next pull)."""
        with db().transaction() as session:
            reach = profiles.Reach.of(g.user)
            keep = profiles.reachable(session, reach, customer_id)
            other = profiles.reachable(session, reach, body["other_id"])
            return data_rights.merge(session, keep, other, g.user)


@bp.route("/<uuid:customer_id>/export")
class Export(MethodView):
    decorators = [require_role(*STAFF)]

    @bp.response(200, {"type": "object"}, description="all data of the customer, as a JSON file")
    def get(self, customer_id):
        """Everything kept about the customer (their data-access request), as a download; the
        export is in the audit log."""
        with db().transaction() as session:
            data = jsonable(data_rights.data_access(session, g.user, customer_id))
        return Response(json.dumps(data, ensure_ascii=False, indent=1),
                        mimetype="application/json", headers={
                            "Content-Disposition": f"attachment; filename=customer-"
                                                   f"{customer_id}.json"})


@bp.route("/<uuid:customer_id>/anonymize")
class Anonymize(MethodView):
    decorators = [require_role(*OPERATORS)]

    @bp.arguments(ReasonSchema)
    @bp.response(200, CustomerBriefSchema)
    def post(self, body, customer_id):
        """Erase who the customer is on their request; what they bought stays, anonymous, so
        sales totals and reports do not change. Their cards are blocked."""
        with db().transaction() as session:
            customer = profiles.reachable(session, profiles.Reach.of(g.user), customer_id)
            if customer.merged_into_id is not None:
                raise Conflict("Anonymize the record it was merged into.",
                               code="customer_merged")
            return data_rights.anonymize(session, customer, body["reason"], g.user)


@bp.route("/<uuid:customer_id>/block")
class BlockCustomer(MethodView):
    decorators = [require_role(*STAFF)]

    @bp.arguments(CustomerBlockSchema)
    @bp.response(200, CustomerStateSchema)
    def post(self, body, customer_id):
        """Block the customer: from their next pull, tills ask central before selling to
        them."""
        with db().transaction() as session:
            return _state(profiles.set_block(session, g.user, customer_id,
                                             body["reason"].strip()))


@bp.route("/<uuid:customer_id>/unblock")
class UnblockCustomer(MethodView):
    decorators = [require_role(*STAFF)]

    @bp.response(200, CustomerStateSchema)
    def post(self, customer_id):
        """Lift the block."""
        with db().transaction() as session:
            return _state(profiles.set_block(session, g.user, customer_id, None))


class CustomerImportArgsSchema(ma.Schema):
    skip_bad = fields.Boolean(load_default=False, metadata={
        "description": "load the good rows and report the bad ones (default: all or nothing)"})
    dry_run = fields.Boolean(load_default=False, metadata={
        "description": "check every row and answer the summary, load nothing"})


class CustomerImportReportSchema(FileImportReportSchema):
    created = fields.Integer(metadata={"description": "members opened"})
    points = fields.Integer(metadata={"description": "opening points posted"})
    skipped = fields.Integer(metadata={"description": "bad rows left out (skip_bad)"})


@bp.route("/import")
class Import(MethodView):
    decorators = [require_role(*OPERATORS)]

    @bp.arguments(CustomerImportArgsSchema, location="query")
    @bp.response(200, CustomerImportReportSchema)
    @bp.alt_response(422, schema=report_or_refusal(CustomerImportReportSchema),
                     description="bad rows, nothing loaded")
    def post(self, args):
        """Open members from a previous system's CSV export (``text/csv``; columns ``name``
        and any of ``phone, email, birthday, home_store, card_number, points, consents``):
        all rows or none unless ``skip_bad``; the same file again changes nothing."""
        csv_body()  # 415 unless text/csv, 422 unless UTF-8, as for every CSV import
        with db().transaction() as session:
            report = customer_imports.import_customers(
                session, request.get_data(), actor_id=g.user.id, skip_bad=args["skip_bad"],
                dry_run=args["dry_run"])
        if report.errors_total and (report.unreadable or not args["skip_bad"]):
            return CustomerImportReportSchema().dump(report), 422
        return report

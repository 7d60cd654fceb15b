"""The company over HTTP: the seller's details printed on quotes and invoices."""

from __future__ import annotations

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from kassa.central.access import audit
from kassa.central.access.auth import require_role
from kassa.central.crm import quotes
from kassa.central.handlers import OPERATORS, PEOPLE, db
from kassa.central.models import CompanyDetails
from kassa.common.errors import NotFound

bp = Blueprint("company", __name__, url_prefix="/api/v1",
               description="The seller on quotes and invoices")


class CompanySchema(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    inn = fields.String(required=True, validate=validate.Regexp(
        r"^(\d{10}|\d{12})\Z", error="10 or 12 digits"))
    kpp = fields.String(load_default="", validate=validate.Regexp(
        r"^(\d{9})?\Z", error="9 digits, or empty"))
    address = fields.String(required=True, validate=validate.Length(min=1, max=300))
    bank = fields.String(required=True, validate=validate.Length(min=1, max=200))
    bic = fields.String(required=True, validate=validate.Regexp(r"^\d{9}\Z",
                                                                error="9 digits"))
    account = fields.String(required=True, validate=validate.Regexp(r"^\d{20}\Z",
                                                                    error="20 digits"))


@bp.route("/company")
class Company(MethodView):
    @require_role(*PEOPLE)
    @bp.response(200, CompanySchema)
    def get(self):
        """The seller's details printed on quotes and invoices."""
        with db().read() as session:
            row = session.get(CompanyDetails, 1)
            if row is None:
                raise NotFound("The company's details are not set yet.",
                               code="company_details_missing")
            return {f: getattr(row, f) for f in quotes.COMPANY_FIELDS}

    @require_role(*OPERATORS)
    @bp.arguments(CompanySchema)
    @bp.response(200, CompanySchema)
    def put(self, body):
        """Set the seller's details (audited); documents issued from now on carry them."""
        with db().transaction() as session:
            row = session.get(CompanyDetails, 1, with_for_update=True)
            before = None if row is None else {f: getattr(row, f) for f in quotes.COMPANY_FIELDS}
            if row is None:
                row = CompanyDetails(id=1, **body)
                session.add(row)
            else:
                for k, v in body.items():
                    setattr(row, k, v)
            session.flush()
            after = {f: getattr(row, f) for f in quotes.COMPANY_FIELDS}
            if after != before:
                audit.change(session, g.user.id, "company", 1, before, after)
            return after

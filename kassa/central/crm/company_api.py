"""The company over HTTP: the seller's details printed on quotes and invoices."""

from __future__ import annotations

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from kassa.central.access.auth import require_role
from kassa.central.crm import quotes
from kassa.central.handlers import OPERATORS, PEOPLE, db

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
            return quotes.company_details(session)

    @require_role(*OPERATORS)
    @bp.arguments(CompanySchema)
    @bp.response(200, CompanySchema)
    def put(self, body):
        """Set the seller's details (audited); documents issued from now on carry them."""
        with db().transaction() as session:
            return quotes.set_company(session, g.user, body)

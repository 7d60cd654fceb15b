"""Quotes and invoices for a customer, as PDF in the issuing store's language, with the company's
details as the seller; each issued document is kept and noted in the customer's timeline.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from babel.numbers import format_decimal
from sqlalchemy import select
from sqlalchemy.orm import Session

from kassa.central.access import audit
from kassa.central.catalog.prices import CHAIN_STANDING
from kassa.central.crm.interactions import record_interaction
from kassa.central.models import (
    CompanyDetails,
    Customer,
    CustomerDocument,
    Price,
    Product,
    Store,
    User,
)
from kassa.common import i18n
from kassa.common.db import utcnow
from kassa.common.errors import Conflict, Invalid, NotFound
from kassa.common.money import format_minor, vat_included
from kassa.common.pdfdocs import render_pdf

DOCUMENT_TITLES = {"quote": "Quote", "invoice": "Invoice"}


COMPANY_FIELDS = ("name", "inn", "kpp", "address", "bank", "bic", "account")


def company_details(session: Session) -> dict:
    """The seller's details as central office set them (``company_details_missing`` before)."""
    row = session.get(CompanyDetails, 1)
    if row is None:
        raise NotFound("The company's details are not set yet.", code="company_details_missing")
    return {f: getattr(row, f) for f in COMPANY_FIELDS}


def set_company(session: Session, actor: User, details: dict) -> dict:
    """Set the seller's details (audited); documents issued from now on carry them."""
    row = session.get(CompanyDetails, 1, with_for_update=True)
    before = None if row is None else {f: getattr(row, f) for f in COMPANY_FIELDS}
    if row is None:
        row = CompanyDetails(id=1, **details)
        session.add(row)
    else:
        for name, value in details.items():
            setattr(row, name, value)
    session.flush()
    after = {f: getattr(row, f) for f in COMPANY_FIELDS}
    if after != before:
        audit.change(session, actor.id, "company", 1, before, after)
    return after


def company(session: Session) -> dict:
    """The seller on quotes and invoices (master data, ``PUT /api/v1/company``)."""
    row = session.get(CompanyDetails, 1)
    if row is None:
        raise Conflict("The company's details (name, INN, bank account...) are not set: "
                       "central office sets them before quotes and invoices are issued.",
                       code="company_details_missing")
    return {f: getattr(row, f) for f in COMPANY_FIELDS}


def make_document(session: Session, customer: Customer, kind: str,
                  lines: list[tuple[str, int]], user: User,
                  valid_days: int = 14) -> tuple[CustomerDocument, bytes]:
    """A quote or invoice for ``lines`` (``[(sku, quantity)]``) at the chain's standing prices,
    numbered, kept, on the customer's timeline, and its PDF (``doc_templates``): in the language
    and currency of the store it comes from (the issuer's, else the customer's home store), else
    in the request's language and the default currency."""
    if kind not in DOCUMENT_TITLES:
        raise Invalid("Unknown document %(kind)s.", code="bad_document", kind=repr(kind))
    skus = [sku for sku, _q in lines]
    found = {p.sku: p for p in session.scalars(select(Product).where(Product.sku.in_(skus)))}
    missing = sorted(set(skus) - set(found))
    if missing:
        raise NotFound("No product %(skus)s.", code="product_not_found",
                       skus=", ".join(missing[:5]))
    prices = dict(session.execute(select(Price.product_id, Price.amount_minor).where(
        Price.product_id.in_([p.id for p in found.values()]), *CHAIN_STANDING)).all())
    items = []
    vat: dict[int, int] = {}
    for sku, quantity in lines:
        product = found[sku]
        if product.id not in prices:
            raise Invalid("%(sku)s has no chain-wide price.", code="no_price", sku=sku)
        amount = prices[product.id] * quantity
        items.append({"sku": sku, "name": product.name, "quantity": quantity,
                      "unit_price_minor": prices[product.id], "amount_minor": amount,
                      "vat_rate_bp": product.vat_rate_bp})
        vat[product.vat_rate_bp] = vat.get(product.vat_rate_bp, 0) + vat_included(
            amount, product.vat_rate_bp)
    row = CustomerDocument(kind=kind, customer_id=customer.id, items=items,
                           total_minor=sum(i["amount_minor"] for i in items),
                           issued_at=utcnow(), issued_by_id=user.id)
    session.add(row)
    session.flush()
    number = f"{kind[0].upper()}-{row.id:06d}"
    issued = row.issued_at.date()
    store_id = user.store_id or customer.home_store_id
    store = session.get(Store, store_id) if store_id is not None else None
    locale = store.locale if store else i18n.current_locale()
    currency = store.currency if store else i18n.DEFAULT_CURRENCY
    _ = i18n.translations(locale).gettext
    title = _("Invoice %(number)s") if kind == "invoice" else _("Quote %(number)s")
    document = render_pdf(
        "customer_document.html", title=title % {"number": number},
        locale=locale, currency=currency, kind=kind,
        percent=lambda bp: format_decimal(Decimal(bp) / 100, format="#,##0.##", locale=locale),
        number=number, issued_on=issued,
        valid_until=issued + timedelta(days=valid_days) if kind == "quote" else None,
        company=company(session), customer=customer, items=items, total_minor=row.total_minor,
        vat_by_rate=sorted(vat.items()))
    record_interaction(session, customer, channel="letter", direction="out",
                       subject=f"{DOCUMENT_TITLES[kind]} {number}: "
                               f"{format_minor(row.total_minor)}",
                       user_id=user.id, external_id=f"document:{number}")
    return row, document

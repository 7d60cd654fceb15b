"""Products, central's master data: products with their barcodes and category, and the VAT
rates they may carry. One function per change, each also writing the change feed.

The ``add_*`` and ``change_*`` functions are what the API calls: they check, change, and write
the audit line with the record before and after. Callers pass a session inside their
transaction (``Database.transaction()``); a failure anywhere rolls back the row, its feed entry
and its audit line together. Prices are ``prices``, promotions ``promotions``, regions and
stores ``stores``.
"""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from kassa.central.access import audit
from kassa.central.catalog.prices import chain_prices, set_price
from kassa.central.models import (
    Product,
    ProductBarcode,
    User,
    VatRate,
)
from kassa.central.replication.feed import record_change
from kassa.central.replication.feed_documents import (
    product_doc,
)
from kassa.common.db import locked
from kassa.common.errors import Conflict, Invalid, NotFound
from kassa.common.i18n import LOCALES


def create_product(session: Session, sku: str, name: str, vat_rate_bp: int, price_minor: int,
                   unit: str = "pcs", barcodes: tuple[str, ...] = (),
                   category: str | None = None, names: dict | None = None) -> Product:
    if unit not in ("pcs", "kg"):
        raise Invalid("Unknown unit %(unit)s.", code="bad_unit", unit=repr(unit))
    check_vat_rate(session, vat_rate_bp)
    if session.scalar(select(Product.id).where(Product.sku == sku)) is not None:
        raise Conflict("SKU %(sku)s exists already.", code="duplicate_sku", sku=sku)
    barcodes = tuple(dict.fromkeys(barcodes))  # a barcode given twice is there once
    _check_barcodes(session, barcodes, None)
    product = Product(sku=sku, name=name, names=check_names(names), vat_rate_bp=vat_rate_bp,
                      unit=unit, active=True, category=category,
                      barcodes=[ProductBarcode(barcode=b) for b in barcodes])
    session.add(product)
    session.flush()
    record_change(session, "product", product.id,
                  product_doc(product, sorted(b.barcode for b in product.barcodes)))
    set_price(session, product, price_minor)
    return product


def check_names(names: dict | None) -> dict | None:
    """A product's names in the chain's other languages: {locale: name}, blanks dropped;
    ``bad_locale`` for a language kassa does not speak."""
    kept = {loc: text.strip() for loc, text in (names or {}).items() if text and text.strip()}
    for loc in kept:
        if loc not in LOCALES:
            raise Invalid("kassa does not speak %(locale)s.", code="bad_locale",
                          locale=repr(loc))
    return kept or None


def check_vat_rate(session: Session, rate_bp: int) -> None:
    """``bad_vat_rate`` unless the rate is one of the chain's rates in force (``VatRate``)."""
    rate = session.get(VatRate, rate_bp)
    if rate is None or not rate.active:
        raise Invalid("VAT rate %(rate)s (basis points) is not one of the chain's rates in "
                      "force.", code="bad_vat_rate", rate=rate_bp)


def _check_barcodes(session: Session, barcodes, product_id: int | None) -> None:
    """A barcode names one product: ``barcode_taken`` if another product has one of these."""
    if not barcodes:
        return
    taken = session.execute(select(ProductBarcode.barcode, Product.sku)
                            .join(Product, Product.id == ProductBarcode.product_id)
                            .where(ProductBarcode.barcode.in_(list(barcodes)),
                                   ProductBarcode.product_id != (product_id or 0))).first()
    if taken is not None:
        raise Conflict("Barcode %(barcode)s belongs to %(sku)s.", code="barcode_taken",
                       barcode=taken.barcode, sku=taken.sku)


def update_product(session: Session, product: Product, *, barcodes: tuple[str, ...] | None = None,
                   **fields) -> Product:
    """Change a product's name, VAT rate, unit, category or whether it is sold, and replace its
    barcodes; the tills get the whole product at their next pull."""
    for name, value in fields.items():
        if name not in ("name", "names", "vat_rate_bp", "unit", "category", "active"):
            raise Invalid("Field %(field)s cannot be edited here.", code="bad_field",
                          field=repr(name))
        if name == "vat_rate_bp" and value != product.vat_rate_bp:
            check_vat_rate(session, value)
        if name == "names":
            value = check_names(value)
        setattr(product, name, value)
    if product.unit not in ("pcs", "kg"):
        raise Invalid("Unknown unit %(unit)s.", code="bad_unit", unit=repr(product.unit))
    if barcodes is not None:
        barcodes = tuple(dict.fromkeys(barcodes))  # a barcode given twice is there once
        _check_barcodes(session, barcodes, product.id)
        product.barcodes = [b for b in product.barcodes if b.barcode in barcodes]
        known = {b.barcode for b in product.barcodes}
        product.barcodes.extend(ProductBarcode(barcode=b) for b in barcodes if b not in known)
    session.flush()
    record_change(session, "product", product.id,
                  product_doc(product, sorted(b.barcode for b in product.barcodes)))
    return product


def product_view(session: Session, product: Product, price: int | None = None) -> dict:
    """A product as the API shows it, with its chain-wide price (looked up unless given)."""
    if price is None:
        price = chain_prices(session, [product.id]).get(product.id)
    return {"sku": product.sku, "name": product.name, "names": product.names or {},
            "vat_rate_bp": product.vat_rate_bp,
            "unit": product.unit, "category": product.category, "active": product.active,
            "barcodes": sorted(b.barcode for b in product.barcodes), "price_minor": price}


def products_like(session: Session, q: str, limit: int) -> list[dict]:
    """Products whose SKU or name holds ``q``, by SKU."""
    stmt = (select(Product).options(selectinload(Product.barcodes))
            .order_by(Product.sku).limit(limit))
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(or_(func.lower(Product.sku).like(like),
                              func.lower(Product.name).like(like)))
    found = list(session.scalars(stmt))
    prices = chain_prices(session, [p.id for p in found])
    return [product_view(session, p, prices.get(p.id)) for p in found]


def add_product(session: Session, actor: User, *, sku: str, name: str, vat_rate_bp: int,
                price_minor: int, unit: str, barcodes: list[str],
                category: str | None, names: dict | None = None) -> dict:
    """A new product with its barcodes, category, names in other languages and chain-wide
    price."""
    product = create_product(session, sku, name, vat_rate_bp, price_minor, unit,
                             tuple(barcodes), category, names)
    after = product_view(session, product)
    audit.change(session, actor.id, "product", product.sku, None, after)
    return after


def change_product(session: Session, actor: User, sku: str, changes: dict) -> dict:
    """Rename, re-categorise, stop or restart selling a product, or replace its barcodes."""
    product = session.scalars(select(Product).where(Product.sku == sku)
                              .with_for_update()).first()
    if product is None:
        raise NotFound("No product %(sku)s.", code="product_not_found", sku=sku)
    barcodes = changes.pop("barcodes", None)
    with audit.change_of(session, actor.id, "product", product.sku,
                         lambda: product_view(session, product)):
        update_product(session, product, **changes,
                       barcodes=tuple(barcodes) if barcodes is not None else None)
    return product_view(session, product)


# -- VAT rates -------------------------------------------------------------------------------

def vat_rate_view(rate: VatRate, products: int) -> dict:
    return {"rate_bp": rate.rate_bp, "name": rate.name, "active": rate.active,
            "products": products}


def _carrying(session: Session, rate_bp: int) -> int:
    return session.scalar(select(func.count()).where(Product.vat_rate_bp == rate_bp,
                                                     Product.active)) or 0


def vat_rates(session: Session) -> list[dict]:
    """Every rate, in force or retired, with how many active products carry it."""
    counts = dict(session.execute(select(Product.vat_rate_bp, func.count()).where(
        Product.active).group_by(Product.vat_rate_bp)).all())
    return [vat_rate_view(r, counts.get(r.rate_bp, 0)) for r in session.scalars(
        select(VatRate).order_by(VatRate.rate_bp.desc()))]


def add_vat_rate(session: Session, actor: User, rate_bp: int, name: str) -> dict:
    """Add a rate products may then carry."""
    if session.get(VatRate, rate_bp) is not None:
        raise Conflict("This VAT rate exists already.", code="duplicate_vat_rate")
    rate = VatRate(rate_bp=rate_bp, name=name, active=True)
    session.add(rate)
    after = vat_rate_view(rate, 0)
    audit.change(session, actor.id, "vat_rate", rate.rate_bp, None, after)
    return after


def change_vat_rate(session: Session, actor: User, rate_bp: int, changes: dict) -> dict:
    """Rename a rate, or retire it (refused while active products carry it) or bring it
    back."""
    rate = locked(session, VatRate, rate_bp,
                  NotFound("No such VAT rate.", code="vat_rate_not_found"))
    carrying = _carrying(session, rate_bp)
    if changes.get("active") is False and rate.active and carrying:
        raise Conflict("%(count)s active products carry this rate: move them to "
                       "another first.", code="vat_rate_in_use", count=carrying)
    with audit.change_of(session, actor.id, "vat_rate", rate.rate_bp,
                         lambda: vat_rate_view(rate, carrying)):
        rate.name = changes.get("name", rate.name)
        rate.active = changes.get("active", rate.active)
    return vat_rate_view(rate, carrying)

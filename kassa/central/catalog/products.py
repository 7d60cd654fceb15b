"""Products, central's master data: products with their barcodes, the VAT rates they may
carry, and promotions. One function per change, each also writing the change feed.

Callers pass a session inside their transaction (``Database.transaction()``); a failure
anywhere rolls back the row and its feed entry together. Prices are ``prices``, regions and
stores ``stores``, staff ``kassa.central.access.people``, nodes
``kassa.central.replication.nodes``, customers ``kassa.central.crm.profiles``.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from kassa.central.catalog.prices import set_price
from kassa.central.models import (
    Product,
    ProductBarcode,
    Promotion,
    VatRate,
)
from kassa.central.replication.feed import record_change
from kassa.central.replication.feed_documents import (
    product_doc,
    promotion_doc,
)
from kassa.common.errors import Conflict, Invalid


def create_product(session: Session, sku: str, name: str, vat_rate_bp: int, price_minor: int,
                   unit: str = "pcs", barcodes: tuple[str, ...] = (),
                   category: str | None = None) -> Product:
    if unit not in ("pcs", "kg"):
        raise Invalid("Unknown unit %(unit)s.", code="bad_unit", unit=repr(unit))
    check_vat_rate(session, vat_rate_bp)
    if session.scalar(select(Product.id).where(Product.sku == sku)) is not None:
        raise Conflict("SKU %(sku)s exists already.", code="duplicate_sku", sku=sku)
    barcodes = tuple(dict.fromkeys(barcodes))  # a barcode given twice is there once
    _check_barcodes(session, barcodes, None)
    product = Product(sku=sku, name=name, vat_rate_bp=vat_rate_bp, unit=unit, active=True,
                      category=category, barcodes=[ProductBarcode(barcode=b) for b in barcodes])
    session.add(product)
    session.flush()
    record_change(session, "product", product.id,
                  product_doc(product, sorted(b.barcode for b in product.barcodes)))
    set_price(session, product, price_minor)
    return product


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
        if name not in ("name", "vat_rate_bp", "unit", "category", "active"):
            raise Invalid("Field %(field)s cannot be edited here.", code="bad_field",
                          field=repr(name))
        if name == "vat_rate_bp" and value != product.vat_rate_bp:
            check_vat_rate(session, value)
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


PROMOTION_KINDS = ("percent", "amount", "n_for_m")


def create_promotion(session: Session, name: str, kind: str, products: list[Product], *,
                     percent_bp: int = 0, amount_minor: int = 0, n: int = 0, m: int = 0,
                     starts_at=None, ends_at=None) -> Promotion:
    if kind not in PROMOTION_KINDS:
        raise Invalid("Unknown promotion kind %(kind)s.", code="bad_promotion", kind=repr(kind))
    if kind == "n_for_m" and not n > m >= 0:
        raise Invalid("An n-for-m promotion needs n > m.", code="bad_promotion")
    promo = Promotion(name=name, kind=kind, product_ids=[p.id for p in products],
                      percent_bp=percent_bp, amount_minor=amount_minor, n=n, m=m,
                      starts_at=starts_at, ends_at=ends_at, active=True)
    session.add(promo)
    session.flush()
    record_change(session, "promotion", promo.id, promotion_doc(promo))
    return promo



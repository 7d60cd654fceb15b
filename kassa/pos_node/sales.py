"""Completing a sale at the till: one service function, one local transaction.

The sale, its lines, its payments, its receipt number and its outbox event are written
together or not at all; nothing here touches the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from kassa.common.errors import KassaError, NotFound
from kassa.pos_node import cart
from kassa.pos_node.models import (
    NodeIdentity,
    Payment,
    Price,
    Product,
    ProductBarcode,
    Sale,
    SaleLine,
)
from kassa.sync.outbox import append_event, next_counter


@dataclass(frozen=True)
class LineRequest:
    quantity_milli: int
    sku: str | None = None
    barcode: str | None = None


class NodeNotInitialized(KassaError):
    status = 503
    code = "node_not_initialized"


def identity(session: Session) -> NodeIdentity:
    node = session.scalars(select(NodeIdentity)).first()
    if node is None:
        raise NodeNotInitialized("This node has not been set up: run `kassa pos init` first.")
    return node


def find_item(session: Session, store_id: int, req: LineRequest, line_no: int) -> cart.Item:
    if req.barcode is not None:
        product = session.scalars(
            select(Product).join(ProductBarcode, ProductBarcode.product_id == Product.id)
            .where(ProductBarcode.barcode == req.barcode)).first()
        what = f"barcode {req.barcode}"
    else:
        product = session.scalars(select(Product).where(Product.sku == req.sku)).first()
        what = f"SKU {req.sku}"
    if product is None or not product.active:
        raise KassaError(f"Line {line_no}: no product with {what}.", code="unknown_product",
                         status=422)
    # A store's own price wins over the chain-wide one (store_id NULL sorts last here).
    price = session.scalars(
        select(Price).where(Price.product_id == product.id,
                            or_(Price.store_id == store_id, Price.store_id.is_(None)))
        .order_by(Price.store_id.is_(None))).first()
    if price is None:
        raise KassaError(f"Line {line_no}: {product.name} has no price at this store.",
                         code="no_price", status=422)
    return cart.Item(product.id, product.sku, product.name, product.unit, product.vat_rate_bp,
                     price.amount_minor)


def complete_sale(session: Session, lines: list[LineRequest], tenders: list[cart.Tender],
                  customer_id: UUID | None = None) -> Sale:
    node = identity(session)
    priced = cart.price_lines(
        [(find_item(session, node.store_id, req, n), req.quantity_milli)
         for n, req in enumerate(lines, start=1)])
    settlement = cart.settle(priced.total_minor, tenders)
    receipt_no = f"{node.node_id}-{next_counter(session, 'receipt'):08d}"
    sale = Sale(receipt_no=receipt_no, customer_id=customer_id, total_minor=priced.total_minor,
                vat_minor=priced.vat_minor, change_minor=settlement.change_minor)
    sale.lines = [
        SaleLine(line_no=ln.line_no, product_id=ln.item.product_id, sku=ln.item.sku,
                 name=ln.item.name, quantity_milli=ln.quantity_milli,
                 unit_price_minor=ln.item.unit_price_minor, amount_minor=ln.amount_minor,
                 vat_rate_bp=ln.item.vat_rate_bp, vat_minor=ln.vat_minor)
        for ln in priced.lines]
    sale.payments = [
        Payment(method=p.method, amount_minor=p.amount_minor, tendered_minor=p.tendered_minor,
                reference=p.reference)
        for p in settlement.payments]
    session.add(sale)
    session.flush()
    append_event(session, "sale.completed", sale_document(sale, node.store_id),
                 occurred_at=sale.sold_at)
    return sale


def sale_document(sale: Sale, store_id: int) -> dict:
    return {
        "sale_id": sale.id, "receipt_no": sale.receipt_no, "store_id": store_id,
        "sold_at": sale.sold_at, "customer_id": sale.customer_id,
        "total_minor": sale.total_minor, "vat_minor": sale.vat_minor,
        "lines": [{c: getattr(ln, c) for c in (
            "line_no", "product_id", "sku", "name", "quantity_milli", "unit_price_minor",
            "amount_minor", "vat_rate_bp", "vat_minor")} for ln in sale.lines],
        "payments": [{c: getattr(p, c) for c in ("method", "amount_minor", "tendered_minor",
                                                 "reference")} for p in sale.payments],
    }


def get_sale(session: Session, sale_id: UUID) -> Sale:
    sale = session.get(Sale, sale_id, options=[selectinload(Sale.lines),
                                               selectinload(Sale.payments)])
    if sale is None:
        raise NotFound("No such sale on this node.", code="sale_not_found")
    return sale

"""Master data central owns: one function per change, each also writing the change feed.

Callers pass a session inside their transaction (``Database.transaction()``); a failure
anywhere rolls back the row and its feed entry together.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from kassa.central.models import (
    ROLES,
    Customer,
    Node,
    Price,
    Product,
    ProductBarcode,
    Promotion,
    Region,
    RoleLimit,
    Store,
    User,
    VatRate,
)
from kassa.central.replication.feed import customer_scope, record_change
from kassa.central.replication.feed_documents import (
    customer_doc,
    price_doc,
    product_doc,
    promotion_doc,
    region_doc,
    role_limit_doc,
    store_doc,
    user_doc,
)
from kassa.common.db import utcnow
from kassa.common.errors import Conflict, Invalid, NotFound, Unauthorized
from kassa.common.i18n import DEFAULT_CURRENCY, DEFAULT_LOCALE
from kassa.common.passwords import hash_secret, verify_secret
from kassa.common.signing import load_public_key

ENROLL_CODE_TTL = timedelta(days=7)


def create_region(session: Session, code: str, name: str) -> Region:
    region = Region(code=code, name=name)
    session.add(region)
    session.flush()
    region_changed(session, region)
    return region


def rename_region(session: Session, region: Region, name: str) -> Region:
    region.name = name
    session.flush()
    region_changed(session, region)
    return region


def region_changed(session: Session, region: Region) -> None:
    """Regions are in the feed like the rest of master data; a till keeps none (its store's
    document names its region), other readers of the feed may."""
    record_change(session, "region", region.id, region_doc(region))


def create_store(session: Session, code: str, name: str, region: Region,
                 timezone: str = "UTC") -> Store:
    store = Store(code=code, name=name, region_id=region.id, timezone=check_timezone(timezone))
    session.add(store)
    session.flush()
    record_change(session, "store", store.id, store_doc(SimpleNamespace(
        id=store.id, code=code, name=name, region_code=region.code, timezone=store.timezone,
        locale=store.locale or DEFAULT_LOCALE, currency=store.currency or DEFAULT_CURRENCY)))
    return store


def check_timezone(name: str) -> str:
    """An IANA zone name the machine knows (``Europe/Moscow``), else ``bad_timezone``."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid("Unknown time zone %(zone)s.", code="bad_timezone",
                      zone=repr(name)) from None
    return name


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


def set_price(session: Session, product: Product, amount_minor: int,
              store: Store | None = None, region: Region | None = None,
              effective_from: datetime | None = None) -> Price:
    """The price of ``product`` chain-wide, in a region or in one store, from
    ``effective_from`` (a local wall-clock time, no zone; ``None``: now and until changed).
    Setting the same scope and start again changes that row."""
    if amount_minor < 0:
        raise Invalid("A price cannot be negative.", code="bad_price")
    if store is not None and region is not None:
        raise Invalid("A price is for a store or a region, not both.", code="bad_price_scope")
    if effective_from is not None and effective_from.tzinfo is not None:
        raise Invalid("effective_from is a local time, without a zone.", code="bad_price")
    if effective_from is not None and not 2000 <= effective_from.year <= 2999:
        raise Invalid("effective_from is a time from 2000 to 2999.", code="bad_price")
    store_id, region_id = (store.id if store else None), (region.id if region else None)
    price = session.scalars(select(Price).where(
        Price.product_id == product.id, same(Price.store_id, store_id),
        same(Price.region_id, region_id), same(Price.effective_from, effective_from))).first()
    if price is None:
        price = Price(product_id=product.id, store_id=store_id, region_id=region_id,
                      effective_from=effective_from, amount_minor=amount_minor)
        session.add(price)
    price.amount_minor = amount_minor
    session.flush()
    record_change(session, "price", price.id, price_doc(price), store_id=store_id,
                  region_id=region_id)
    if effective_from is None:
        drop_started(session, [product.id], store_id, region_id)
    return price


def drop_started(session: Session, product_ids: list[int], store_id: int | None,
                 region_id: int | None) -> int:
    """A new standing price means "from now on": the scope's scheduled rows that have started
    (in any of its stores, by that store's clock) would outrank it at the tills, so they go,
    with tombstones; changes still ahead everywhere stay."""
    if not product_ids:
        return 0
    stores = select(Store.timezone).distinct()
    if store_id is not None:
        stores = stores.where(Store.id == store_id)
    elif region_id is not None:
        stores = stores.where(Store.region_id == region_id)
    zones = list(session.scalars(stores)) or ["UTC"]
    now = utcnow()
    latest = max(now.astimezone(ZoneInfo(zone)).replace(tzinfo=None) for zone in zones)
    started = list(session.scalars(select(Price).where(
        Price.product_id.in_(product_ids), same(Price.store_id, store_id),
        same(Price.region_id, region_id), Price.effective_from.is_not(None),
        Price.effective_from <= latest)))
    for row in started:
        record_change(session, "price", row.id, None, store_id=row.store_id,
                      region_id=row.region_id)
        session.delete(row)
    session.flush()
    return len(started)


def same(column, value):
    return column.is_(None) if value is None else column == value


def delete_price(session: Session, price: Price) -> None:
    """Remove a store's or region's price, or a scheduled change (what applied before applies
    again); a tombstone tells the nodes concerned. The chain-wide standing price is changed,
    never deleted."""
    if price.store_id is None and price.region_id is None and price.effective_from is None:
        raise Invalid("The chain-wide price cannot be deleted; set another.",
                      code="chain_price_required")
    record_change(session, "price", price.id, None, store_id=price.store_id,
                  region_id=price.region_id)
    session.delete(price)
    session.flush()


def create_user(session: Session, username: str, role: str, *, password: str | None = None,
                pin: str | None = None, full_name: str = "", region: Region | None = None,
                store: Store | None = None, email: str | None = None) -> User:
    if role not in ROLES:
        raise Invalid("Unknown role %(role)s.", code="bad_role", role=repr(role))
    if role == "regional_manager" and region is None:
        raise Invalid("A regional manager needs a region.", code="bad_role")
    if role in ("cashier", "store_manager") and store is None:
        raise Invalid("A %(role)s needs a store.", code="bad_role", role=role)
    user = User(username=username, role=role, full_name=full_name, email=email,
                password_hash=hash_secret(password) if password else None,
                pin_hash=hash_secret(pin) if pin else None,
                region_id=region.id if region else None, store_id=store.id if store else None)
    session.add(user)
    session.flush()
    if role in ("cashier", "store_manager"):
        # Tills need these users (PIN sign-in works offline); office users never reach a node.
        # Only the tills of the user's own store get the PIN hash.
        record_change(session, "user", user.id, user_doc(user), store_id=user.store_id)
    return user


def set_user_active(session: Session, user: User, active: bool) -> None:
    update_user(session, user, active=active)


def update_user(session: Session, user: User, *, full_name: str | None = None,
                email: str | None = None, active: bool | None = None, pin: str | None = None,
                password: str | None = None, unlock: bool = False) -> list[str]:
    """Change an account; returns which secrets were set (``pin``, ``password``), for the
    audit log. A new password ends the user's sessions (their stamp changes); a till user's
    change reaches their store's tills."""
    secrets_set = []
    if full_name is not None:
        user.full_name = full_name
    if email is not None:
        user.email = email or None
    if active is not None:
        user.active = active
    if pin is not None:
        if user.role not in ("cashier", "store_manager"):
            raise Invalid("Only till users have a PIN.", code="bad_field")
        user.pin_hash = hash_secret(pin)
        secrets_set.append("pin")
    if password is not None:
        user.password_hash, user.password_changed_at = hash_secret(password), utcnow()
        secrets_set.append("password")
    if unlock:
        user.failed_sign_ins, user.locked_until = 0, None
    session.flush()
    if user.role in ("cashier", "store_manager"):
        record_change(session, "user", user.id, user_doc(user), store_id=user.store_id)
    return secrets_set


def set_role_limit(session: Session, role: str, max_discount_bp: int,
                   max_refund_minor: int) -> RoleLimit:
    if role not in ROLES:
        raise Invalid("Unknown role %(role)s.", code="bad_role", role=repr(role))
    if not 0 <= max_discount_bp <= 10000 or max_refund_minor < 0:
        raise Invalid("Limits must be a 0-100 % discount and a non-negative refund.",
                      code="bad_limit")
    limit = session.get(RoleLimit, role) or RoleLimit(role=role)
    limit.max_discount_bp, limit.max_refund_minor = max_discount_bp, max_refund_minor
    session.add(limit)
    session.flush()
    record_change(session, "role_limit", role, role_limit_doc(limit))
    return limit


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


def create_customer(session: Session, name: str, card_number: str | None = None,
                    phone: str | None = None, email: str | None = None,
                    home_store: Store | None = None) -> Customer:
    customer = Customer(name=name, card_number=card_number, phone=phone, email=email,
                        home_store_id=home_store.id if home_store else None)
    session.add(customer)
    session.flush()
    record_change(session, "customer", customer.id, customer_doc(customer),
                  **customer_scope(session, customer))
    return customer


def update_customer(session: Session, customer: Customer, **fields: str | None) -> Customer:
    """Central's own edit of a customer's contact fields (central wins over tills' edits)."""
    for name, value in fields.items():
        if name not in ("name", "phone", "email"):
            raise Invalid("Field %(field)s cannot be edited here.", code="bad_field",
                          field=repr(name))
        setattr(customer, name, value)
    session.flush()
    record_change(session, "customer", customer.id, customer_doc(customer),
                  **customer_scope(session, customer))
    return customer


def add_node(session: Session, node_id: str, store: Store) -> str:
    """Register a node and return its one-time enrolment code (only its hash is kept)."""
    if session.get(Node, node_id) is not None:
        raise Conflict("Node %(node_id)s exists already.", code="duplicate_node", node_id=node_id)
    code = secrets.token_urlsafe(18)
    session.add(Node(id=node_id, store_id=store.id, enroll_code_hash=hash_secret(code),
                     enroll_expires_at=utcnow() + ENROLL_CODE_TTL, high_water=0, active=True))
    session.flush()
    return code


def enroll_node(session: Session, node_id: str, code: str, public_key_pem: str) -> Node:
    """Trade a one-time code for a registered public key; the code cannot be used again."""
    node = session.get(Node, node_id, with_for_update=True)
    if (node is None or node.enroll_code_hash is None or node.enroll_expires_at < utcnow()
            or not verify_secret(node.enroll_code_hash, code)):
        raise Unauthorized("Unknown node or invalid enrolment code.", code="enrollment_refused")
    try:
        load_public_key(public_key_pem)
    except ValueError as err:
        raise Invalid("Public key refused: %(reason)s", code="bad_public_key",
                      reason=str(err)) from err
    node.public_key_pem = public_key_pem
    node.enroll_code_hash = None
    node.enroll_expires_at = None
    node.enrolled_at = utcnow()
    _node_changed(session, node)
    return node


def rotate_node_key(session: Session, node_id: str, public_key_pem: str,
                    grace_seconds: int) -> Node:
    """Replace a node's key (the request was signed with its current key). The old key keeps
    verifying for ``grace_seconds`` so requests in flight still pass; sending the same new key
    again (a lost answer) changes nothing."""
    node = session.get(Node, node_id, with_for_update=True)
    if node.public_key_pem == public_key_pem:
        return node
    try:
        load_public_key(public_key_pem)
    except ValueError as err:
        raise Invalid("Public key refused: %(reason)s", code="bad_public_key",
                      reason=str(err)) from err
    node.previous_public_key_pem = node.public_key_pem
    node.previous_key_until = utcnow() + timedelta(seconds=grace_seconds)
    node.public_key_pem = public_key_pem
    _node_changed(session, node)
    return node


def revoke_node(session: Session, node_id: str) -> Node:
    """Stop accepting the node's requests at once (its till keeps selling offline; re-enrol it
    with ``add-node --reenroll`` to bring it back)."""
    node = session.get(Node, node_id, with_for_update=True)
    if node is None:
        raise NotFound("No node %(node_id)s.", code="node_not_found", node_id=node_id)
    node.active = False
    node.revoked_at = utcnow()
    node.previous_public_key_pem = node.previous_key_until = None
    _node_changed(session, node)
    return node


def reenroll_node(session: Session, node_id: str) -> str:
    """A new one-time code for an existing node (a revoked one, or one whose disk was lost);
    its seq history at central stays, so it resumes where central's high-water mark is."""
    node = session.get(Node, node_id, with_for_update=True)
    if node is None:
        raise NotFound("No node %(node_id)s.", code="node_not_found", node_id=node_id)
    code = secrets.token_urlsafe(18)
    node.enroll_code_hash, node.enroll_expires_at = hash_secret(code), utcnow() + ENROLL_CODE_TTL
    node.active, node.revoked_at = True, None
    node.public_key_pem = node.previous_public_key_pem = node.previous_key_until = None
    _node_changed(session, node)
    return code


def _node_changed(session: Session, node: Node) -> None:
    """Node keys are master data too: every enrolment, rotation and revocation is versioned in
    the feed (a tombstone when the node stops being trusted)."""
    session.flush()
    record_change(session, "node", node.id,
                  {"id": node.id, "store_id": node.store_id, "public_key_pem": node.public_key_pem}
                  if node.active and node.public_key_pem else None)


def store_by_code(session: Session, code: str) -> Store:
    store = session.scalars(select(Store).where(Store.code == code)).first()
    if store is None:
        raise NotFound("No store %(store)s.", code="store_not_found", store=code)
    return store

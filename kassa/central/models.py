"""Central's tables: master data it owns and the facts nodes send up.

Central is master for regions, stores, nodes, users, products, prices and customers' profiles;
each change to those is also written to ``change_feed`` for nodes to pull. Sales arrive from
nodes as outbox events; ``received_events`` is the permanent record that makes applying them
exactly-once (primary key ``(node_id, seq)``).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    false,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from kassa.common.db import NAMING, JSONDoc, UTCDateTime, utcnow

# Central's Alembic chain: every change to these tables is a migration there.
MIGRATIONS = Path(__file__).with_name("migrations")


class Base(DeclarativeBase):
    """Declarative base for central's tables: one metadata, one Alembic chain (``MIGRATIONS``)."""

    metadata = MetaData(naming_convention=NAMING)

ROLES = ("cashier", "store_manager", "central_office", "regional_manager", "admin")


def changed_at_column():
    """When the row last changed, by the database's clock: kept by a trigger on both engines
    (migration 0019), so no code path can forget it; the warehouse loads what changed since
    its last run by it."""
    return mapped_column(UTCDateTime, server_default=func.current_timestamp(), index=True)


class Region(Base):
    __tablename__ = "regions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class Store(Base):
    __tablename__ = "stores"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    # IANA zone of the store's wall clock: scheduled prices take effect at its local time.
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    # The till's language (screen, customer display, receipt) and the money it counts in.
    locale: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    currency: Mapped[str] = mapped_column(String(3), default="RUB", server_default="RUB")
    # Where the customer bought: printed under the store's name on every receipt.
    address: Mapped[str] = mapped_column(String(300), default="", server_default="")
    region: Mapped[Region] = relationship()


class Node(Base):
    """A POS node: enrolled once with a one-time code, then known by its public key."""

    __tablename__ = "nodes"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), index=True)
    public_key_pem: Mapped[str | None] = mapped_column(Text)
    enroll_code_hash: Mapped[str | None] = mapped_column(String(200))
    enroll_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Highest outbox seq applied from this node; moved only together with the applied events.
    high_water: Mapped[int] = mapped_column(BigInteger, default=0)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Key rotation: the previous key still verifies until ``previous_key_until``.
    previous_public_key_pem: Mapped[str | None] = mapped_column(Text)
    previous_key_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the node last said about itself (``POST /api/v1/sync/status``).
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    node_seq: Mapped[int | None] = mapped_column(BigInteger)
    queue_depth: Mapped[int | None] = mapped_column(Integer)
    oldest_pending_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    feed_cursor: Mapped[int | None] = mapped_column(BigInteger)
    # The last request central refused from this (correctly signed) node, e.g. clock_skew.
    last_refusal: Mapped[str | None] = mapped_column(String(32))
    last_refused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    clock_skew_seconds: Mapped[int | None] = mapped_column(Integer)
    # Its Litestream backup as it last reported (``kassa.common.storage.backup``): alarm, lag, why.
    backup_state: Mapped[str | None] = mapped_column(String(16))
    backup_lag_seconds: Mapped[int | None] = mapped_column(Integer)
    backup_error: Mapped[str | None] = mapped_column(String(500))
    store: Mapped[Store] = relationship()


class NodeNonce(Base):
    """Nonces of signed requests seen within the signature window: a replay is refused."""

    __tablename__ = "node_nonces"
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id"), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class NodeDayTotal(Base):
    """A node's own count of its sales per day, as it last reported it (for reconciliation)."""

    __tablename__ = "node_day_totals"
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    sales_count: Mapped[int] = mapped_column(Integer)
    sales_minor: Mapped[int] = mapped_column(BigInteger)
    returns_count: Mapped[int] = mapped_column(Integer)
    returns_minor: Mapped[int] = mapped_column(BigInteger)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BusinessDay(Base):
    """A store's business day closed at central; facts arriving for it later are flagged."""

    __tablename__ = "business_days"
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    unsynced_nodes: Mapped[list] = mapped_column(JSONDoc, default=list)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(200))
    pin_hash: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    email: Mapped[str | None] = mapped_column(String(200))  # notices: overdue tasks...
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locale: Mapped[str | None] = mapped_column(String(8))  # None: the browser's language


class SignInFailure(Base):
    """Wrong passwords in a row for a user name from one client (its address, hashed), and
    until when that client is locked out of it: someone elsewhere cannot lock the account for
    everyone. Kept for unknown names too, so the answers never tell which names exist."""

    __tablename__ = "sign_in_failures"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class WebSession(Base):
    """A person signed in with a browser: the session cookie carries a random id, kept here
    only as its SHA-256. Signing out, a password change or reset deletes the row, and the
    cookie stops working at once."""

    __tablename__ = "web_sessions"
    id_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ApiToken(Base):
    """A token an integration sends as ``Authorization: Bearer kassa_<id>_<secret>``; only a
    SHA-256 of the secret is kept (the secret is random, so no slow hash is needed)."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Product(Base):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # The name in other languages, by locale ({"ru": "Молоко 3,2% 1 л"}): a store's tills show
    # the name in the store's language and find the product by any of them.
    names: Mapped[dict | None] = mapped_column(JSONDoc)
    vat_rate_bp: Mapped[int] = mapped_column(Integer)  # basis points: 2000 = 20 %
    unit: Mapped[str] = mapped_column(String(8), default="pcs")  # pcs | kg
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # A product group ("dairy", "produce"...): loyalty multipliers, reports, cross-sell.
    category: Mapped[str | None] = mapped_column(String(64), index=True)
    barcodes: Mapped[list["ProductBarcode"]] = relationship(
        back_populates="product", cascade="all, delete-orphan")


class ProductBarcode(Base):
    __tablename__ = "product_barcodes"
    barcode: Mapped[str] = mapped_column(String(32), primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    product: Mapped[Product] = relationship(back_populates="barcodes")


class Price(Base):
    """Shelf price, VAT included, for the whole chain (no store, no region), a region or one
    store; the most specific one applies. ``effective_from`` is a wall-clock time in each
    store's own zone (NULL: in force since always): a change scheduled for 00:00 takes effect at
    midnight in every store it concerns, by the till's own clock, online or not."""

    __tablename__ = "prices"
    __table_args__ = (
        # One price per product, scope and start (NULLs made comparable, on both databases).
        Index("uq_prices_slot", "product_id", text("coalesce(store_id, 0)"),
              text("coalesce(region_id, 0)"),
              text("coalesce(effective_from, '1970-01-01 00:00:00')"), unique=True),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))
    effective_from: Mapped[datetime | None] = mapped_column(DateTime)
    amount_minor: Mapped[int] = mapped_column(BigInteger)


class Customer(Base):
    __tablename__ = "customers"
    changed_at: Mapped[datetime] = changed_at_column()
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    # Stored normalised (kassa.common.formats.contacts): matched on.
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    email: Mapped[str | None] = mapped_column(String(200), index=True)
    card_number: Mapped[str | None] = mapped_column(String(16), unique=True)
    # The customer's current card asks for a PIN before points are spent (from its issue).
    card_has_pin: Mapped[bool] = mapped_column(Boolean, default=False)
    home_store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Blocked (fraud, abuse...): a till sells to them only with central's authorization.
    blocked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    block_reason: Mapped[str | None] = mapped_column(String(200))
    # "customer", or "lead": known from a web form, a call... and no purchase yet.
    status: Mapped[str] = mapped_column(String(12), default="customer",
                                        server_default="customer")
    birthday: Mapped[date | None] = mapped_column(Date)
    address: Mapped[str | None] = mapped_column(String(300))  # for quotes and invoices
    # Where a lead came from: {"channel", "campaign", "referrer", "utm_source", ...}.
    lead_source: Mapped[dict | None] = mapped_column(JSONDoc)
    # A duplicate merged into another record: everything of it moved there. (No foreign key:
    # SQLite cannot drop a column its own table's key refers to, so migrations could not undo
    # it; the merge writes both records in one transaction.)
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    anonymized_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Consent(Base):
    """A customer's consent to marketing by one channel, given or withdrawn: every change is a
    new row (when, where, by whom), the newest per channel is in force."""

    __tablename__ = "customer_consents"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(12))  # sms | email | phone
    granted: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(100))  # "web form", "till pos-1", "office"...
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Interaction(Base):
    """One contact with a customer or lead on any channel but the till's sales (those are the
    sales themselves): a call, an e-mail, a web form, a chat, a social message, an event..."""

    __tablename__ = "interactions"
    changed_at: Mapped[datetime] = changed_at_column()
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # An integration's own id: sending the same interaction again changes nothing.
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    source: Mapped[dict | None] = mapped_column(JSONDoc)


class FormSubmission(Base):
    """Public web-form posts per client address (hashed), for the rate limit."""

    __tablename__ = "form_submissions"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    client_hash: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class LoyaltyAccount(Base):
    """A customer's points. ``balance`` caches the sum of the account's ledger entries
    (``kassa.central.membership.loyalty_accounts.check_balance`` proves it); ``held`` is what open
    redemption holds reserve. A hold is granted only by a conditional update on this row, never by
    trusting the isolation level."""

    __tablename__ = "loyalty_accounts"
    changed_at: Mapped[datetime] = changed_at_column()
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), unique=True)
    tier: Mapped[str] = mapped_column(String(32), default="base")
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    held: Mapped[int] = mapped_column(BigInteger, default=0)
    review_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # ``[[ISO date, points]]`` expiring soonest, refreshed whenever the account is published.
    expiring: Mapped[list | None] = mapped_column(JSONDoc)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LoyaltyEntry(Base):
    """One ledger entry, forever; ``cause`` makes posting it twice impossible."""

    __tablename__ = "loyalty_entries"
    changed_at: Mapped[datetime] = changed_at_column()
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loyalty_accounts.id"), index=True)
    cause: Mapped[str] = mapped_column(String(160), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    points: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LoyaltySettings(Base):
    """The chain's loyalty rules, one document (``kassa.loyalty.settings``); one row."""

    __tablename__ = "loyalty_settings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    document: Mapped[dict] = mapped_column(JSONDoc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LoyaltyRulesVersion(Base):
    """Every version of the loyalty rules central has set, kept: the document a till held
    under a version (the document carries its number) is known for good."""

    __tablename__ = "loyalty_rules_versions"
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    document: Mapped[dict] = mapped_column(JSONDoc)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class IssuerKey(Base):
    """A key central certifies cards with; the card's C5 names it. The private half lives in a
    file only central reads (``KASSA_ISSUER_KEY_DIR``), never in the database."""

    __tablename__ = "issuer_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    public_key_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Card(Base):
    """A loyalty card: in a store's stock (no account yet), or an account's card, issued,
    active, blocked (lost, stolen...) or replaced. A smart card (``chip``) carries an issuer
    certificate; a ``printed`` one is a number on plastic or paper, with a barcode."""

    __tablename__ = "cards"
    card_number: Mapped[str] = mapped_column(String(16), primary_key=True)
    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("loyalty_accounts.id"),
                                                         index=True)
    issuer_key_id: Mapped[int | None] = mapped_column(ForeignKey("issuer_keys.id"))
    kind: Mapped[str] = mapped_column(String(8), default="chip", server_default="chip")
    # The store whose stock holds the card until a till gives it to a new member.
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    # The till that gave it from stock (None: issued to an account at central).
    assigned_by_node: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default="issued")
    expires_on: Mapped[date] = mapped_column(Date)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    blocked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    block_reason: Mapped[str | None] = mapped_column(String(32))
    replaced_by: Mapped[str | None] = mapped_column(String(16))
    # Whether the card asks for a PIN before its balance is lowered (tills ask the customer).
    has_pin: Mapped[bool] = mapped_column(Boolean, default=False)
    # The PIN for the customer's own web page (argon2; None: that page is closed to the card).
    web_pin_hash: Mapped[str | None] = mapped_column(String(200))


class RedemptionHold(Base):
    """Points reserved for a sale in progress at a till: committed when the sale completes,
    released when it is voided or the hold times out."""

    __tablename__ = "redemption_holds"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loyalty_accounts.id"), index=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id"))
    points: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12), default="held", index=True)
    # held | committed | released | expired
    sale_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Sale(Base):
    """A completed sale as the node reported it; ``sold_at`` is the node's clock (informative)."""

    __tablename__ = "sales"
    changed_at: Mapped[datetime] = changed_at_column()
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    receipt_no: Mapped[str] = mapped_column(String(64), unique=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id"), index=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), index=True)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("customers.id"),
                                                          index=True)
    sold_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(12), default="completed")  # | post_voided
    shift_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    cashier_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    gross_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    discount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    vat_minor: Mapped[int] = mapped_column(BigInteger)
    # Why the sale arrived late, if it did: ``shift_closed`` or ``day_closed`` at central.
    late_reason: Mapped[str | None] = mapped_column(String(32))
    # Loyalty: the account the sale earned for, the points that paid part of it and, when
    # central authorized them, the hold they came from (none: accepted offline by the till).
    account_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    points_burned: Mapped[int] = mapped_column(BigInteger, default=0)
    points_hold_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # Central's authorization of a discount above the store manager's limit.
    authorization_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # The till's fiscal register's receipt (54-FZ): None where the till has no register.
    fiscal_document_number: Mapped[int | None] = mapped_column(BigInteger)
    fiscal_sign: Mapped[str | None] = mapped_column(String(20))
    fiscal_drive_number: Mapped[str | None] = mapped_column(String(20))
    # The customer asked for the receipt by e-mail at the till (the register sent it when
    # the sale was fiscalised; else central's mail outbox did when the sale arrived).
    receipt_email: Mapped[str | None] = mapped_column(String(200))
    lines: Mapped[list["SaleLine"]] = relationship(
        back_populates="sale", cascade="all, delete-orphan", order_by="SaleLine.line_no")
    payments: Mapped[list["Payment"]] = relationship(
        back_populates="sale", cascade="all, delete-orphan")


class SaleLine(Base):
    __tablename__ = "sale_lines"
    __table_args__ = (UniqueConstraint("sale_id", "line_no"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sale_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sales.id"), index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    quantity_milli: Mapped[int] = mapped_column(BigInteger)
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    gross_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    discount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    promotion_id: Mapped[int | None] = mapped_column(Integer)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    vat_rate_bp: Mapped[int] = mapped_column(Integer)
    vat_minor: Mapped[int] = mapped_column(BigInteger)
    points_earned: Mapped[int] = mapped_column(BigInteger, default=0)
    # The personal offer the line's discount came from (kassa.central.membership.personal_offers).
    offer_id: Mapped[int | None] = mapped_column(Integer)
    sale: Mapped[Sale] = relationship(back_populates="lines")


class Payment(Base):
    __tablename__ = "payments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sale_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sales.id"), index=True)
    method: Mapped[str] = mapped_column(String(16))  # cash | card
    amount_minor: Mapped[int] = mapped_column(BigInteger)  # applied to the sale
    tendered_minor: Mapped[int | None] = mapped_column(BigInteger)  # cash handed over
    reference: Mapped[str | None] = mapped_column(String(64))
    sale: Mapped[Sale] = relationship(back_populates="payments")


class Shift(Base):
    """A till shift as its node reported it (opened, then closed with its cash count)."""

    __tablename__ = "shifts"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    cashier_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opening_float_minor: Mapped[int] = mapped_column(BigInteger)
    expected_cash_minor: Mapped[int | None] = mapped_column(BigInteger)
    counted_cash_minor: Mapped[int | None] = mapped_column(BigInteger)
    cash_in_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    cash_out_minor: Mapped[int] = mapped_column(BigInteger, default=0)


class Return(Base):
    __tablename__ = "returns"
    changed_at: Mapped[datetime] = changed_at_column()
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    return_no: Mapped[str] = mapped_column(String(64), unique=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id"), index=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), index=True)
    original_sale_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    original_receipt_no: Mapped[str | None] = mapped_column(String(64), index=True)
    shift_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    cashier_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    override_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    reason: Mapped[str] = mapped_column(String(200), default="")
    returned_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    vat_minor: Mapped[int] = mapped_column(BigInteger)
    # Points that paid for the returned goods, given back to the account.
    points_refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    # Central's authorization of a refund above the store manager's limit.
    authorization_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # The till's fiscal register's return receipt (sellReturn), where it has one.
    fiscal_document_number: Mapped[int | None] = mapped_column(BigInteger)
    fiscal_sign: Mapped[str | None] = mapped_column(String(20))
    fiscal_drive_number: Mapped[str | None] = mapped_column(String(20))


class ReturnLine(Base):
    __tablename__ = "return_lines"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    return_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("returns.id"), index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    original_line_no: Mapped[int | None] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    quantity_milli: Mapped[int] = mapped_column(BigInteger)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    vat_rate_bp: Mapped[int] = mapped_column(Integer)
    vat_minor: Mapped[int] = mapped_column(BigInteger)
    # Points the returned goods had earned, taken back.
    points_reversed: Mapped[int] = mapped_column(BigInteger, default=0)


class Refund(Base):
    __tablename__ = "refunds"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    return_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("returns.id"), index=True)
    method: Mapped[str] = mapped_column(String(16))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str | None] = mapped_column(String(64))


class AuditEntry(Base):
    """Who allowed what, and why: manager overrides at tills, voids, later central decisions."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    node_id: Mapped[str | None] = mapped_column(ForeignKey("nodes.id"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    on_behalf_of_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    subject: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(200))
    reference_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, unique=True)
    # A master-data change: ``{"before": {...}, "after": {...}}`` (None for other entries).
    details: Mapped[dict | None] = mapped_column(JSONDoc)


class Promotion(Base):
    __tablename__ = "promotions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # percent | amount | n_for_m
    product_ids: Mapped[list] = mapped_column(JSONDoc)
    percent_bp: Mapped[int] = mapped_column(Integer, default=0)
    amount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    n: Mapped[int] = mapped_column(Integer, default=0)
    m: Mapped[int] = mapped_column(Integer, default=0)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class RoleLimit(Base):
    """What a role may do alone: at the till a discount and a refund (above these, a manager
    override); at central the points one may add to or take from a customer at a time."""

    __tablename__ = "role_limits"
    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    max_discount_bp: Mapped[int] = mapped_column(Integer)
    max_refund_minor: Mapped[int] = mapped_column(BigInteger)
    max_points_adjust: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class ReceivedEvent(Base):
    """Every outbox event applied, forever: the exactly-once guarantee is this primary key."""

    __tablename__ = "received_events"
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    kind: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class QuarantinedEvent(Base):
    """An event central could not apply: held with its reason until an operator repairs and
    replays it (or discards it, saying why). Its seq counts as received, so the node's queue
    moves on; events that depend on it are held here too."""

    __tablename__ = "quarantined_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id"), index=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    kind: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    payload: Mapped[dict] = mapped_column(JSONDoc)
    # Ids the event creates or names (sale, shift, return), to hold what depends on it.
    refs: Mapped[list] = mapped_column(JSONDoc, default=list)
    reason: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    depends_on_seq: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12), default="held", index=True)
    # held | replayed | discarded
    quarantined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (UniqueConstraint("node_id", "seq"),)


class FraudAlert(Base):
    """Points a till claimed that central did not post as claimed: the sale or return is
    applied with central's figure (``posted``), and the till's word (``claimed``, with the
    figures behind both in ``details``) is kept here until someone looks into it. Open alerts
    show on the node's status (``kassa.central.replication.points_claims``)."""

    __tablename__ = "fraud_alerts"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id"), index=True)
    # earn | burn | refund | reversal: which of the event's points central did not take
    kind: Mapped[str] = mapped_column(String(16))
    event_kind: Mapped[str] = mapped_column(String(64))
    document_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)  # the sale or return
    document_no: Mapped[str] = mapped_column(String(64))  # its receipt or return number
    account_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    claimed: Mapped[int] = mapped_column(BigInteger)
    posted: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(32))
    details: Mapped[dict] = mapped_column(JSONDoc)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the till's clock
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(12), default="open", index=True)  # | resolved
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolution_note: Mapped[str | None] = mapped_column(Text)


class ChangeFeedEntry(Base):
    """One change to master data; ``version`` orders them, ``deleted`` marks a tombstone."""

    __tablename__ = "change_feed"
    __table_args__ = (Index("ix_change_feed_entity", "entity", "entity_key"),)
    version: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                         primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(String(32))
    entity_key: Mapped[str] = mapped_column(String(128))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    payload: Mapped[dict | None] = mapped_column(JSONDoc)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Which nodes get it: NULL is every node; otherwise only nodes of that store or region.
    store_id: Mapped[int | None] = mapped_column(Integer)
    region_id: Mapped[int | None] = mapped_column(Integer)


class AuthorizationPolicy(Base):
    """How central decides one kind of request from tills (chain-wide, or for one store):
    approve at once up to ``auto_approve_max``, decline at once above ``decline_over``, and
    put what lies between in front of central-office staff, escalating to the next role after
    ``escalate_after_s`` and expiring after ``expire_after_s``. Amounts are minor units
    (refunds) or basis points (discounts)."""

    __tablename__ = "authorization_policies"
    __table_args__ = (UniqueConstraint("kind", "store_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    auto_approve_max: Mapped[int | None] = mapped_column(BigInteger)
    decline_over: Mapped[int | None] = mapped_column(BigInteger)
    escalate_after_s: Mapped[int] = mapped_column(Integer, default=120)
    expire_after_s: Mapped[int] = mapped_column(Integer, default=600)


class Authorization(Base):
    """One request from a till for a decision it may not take alone, and central's answer."""

    __tablename__ = "authorizations"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id"), index=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    subject: Mapped[str] = mapped_column(String(200))
    cashier_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # pending | approved | declined | expired
    status: Mapped[str] = mapped_column(String(12), index=True)
    policy: Mapped[str] = mapped_column(String(64))
    level: Mapped[str | None] = mapped_column(String(32))  # the role asked, while pending
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    escalate_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(String(200), default="")


class TaskRule(Base):
    """What a trigger makes: a task with this title, due this many minutes later, for this
    role (of the store it concerns). Rows override ``kassa.central.crm.tasks.DEFAULT_RULES``."""

    __tablename__ = "task_rules"
    trigger: Mapped[str] = mapped_column(String(32), primary_key=True)  # web_lead | complaint
    title: Mapped[str] = mapped_column(String(200))
    due_minutes: Mapped[int] = mapped_column(Integer)
    assignee_role: Mapped[str] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Task(Base):
    """A follow-up someone owes a customer, with a deadline."""

    __tablename__ = "tasks"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    trigger: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    customer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("customers.id"),
                                                          index=True)
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # open | in_progress | done | cancelled
    status: Mapped[str] = mapped_column(String(12), default="open", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    overdue_noticed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TaskComment(Base):
    __tablename__ = "task_comments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tasks.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(12))  # the status it moved the task to


class Notification(Base):
    """An in-app notice for one person."""

    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    text: Mapped[str] = mapped_column(String(500))
    task_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class VatRate(Base):
    """A VAT rate a product may carry, in basis points (2000 = 20 %). Master data: the
    defaults are a Russian chain's 20 %, 10 % and 0 %; a rate no longer in force is kept
    inactive, since past sales name it."""

    __tablename__ = "vat_rates"
    rate_bp: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class SignInCode(Base):
    """A one-time code mailed to a customer for their self-service page: kept hashed, good
    once and for a few minutes, void after a few wrong tries."""

    __tablename__ = "sign_in_codes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0)


class MailMessage(Base):
    """A mail to send, written in the transaction that decided it and sent after (at least
    once: an SMTP server down delays mail, never loses it)."""

    __tablename__ = "mail_outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    to_address: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(200))
    # A secret in the text (a sign-in code): subject and body are blanked once it is sent.
    erase_after_send: Mapped[bool] = mapped_column(Boolean, default=False,
                                                   server_default=false())


class CustomerDocument(Base):
    """A quote or an invoice made for a customer: its number, what it listed, its total."""

    __tablename__ = "customer_documents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))  # quote | invoice
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    items: Mapped[list] = mapped_column(JSONDoc)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class HistoricTransaction(Base):
    """A customer's purchase from before kassa, loaded from the previous system's export
    (``kassa.central.reporting.history_import``): what the warehouse and the lifetime-value models
    read beside kassa's own sales. ``batch`` is the file's sha256: a file is loaded once."""

    __tablename__ = "historic_transactions"
    __table_args__ = (UniqueConstraint("batch", "line_no"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    quantity_milli: Mapped[int] = mapped_column(BigInteger)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    batch: Mapped[str] = mapped_column(String(64))
    line_no: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ImportBatch(Base):
    """A file loaded in bulk, known by the sha256 of its bytes, so the same file again changes
    nothing (``kassa.central.crm.customer_imports``): what kind, when, by whom, and what it
    brought (rows, created, points)."""

    __tablename__ = "import_batches"
    __table_args__ = (UniqueConstraint("kind", "batch"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    batch: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    summary: Mapped[dict] = mapped_column(JSONDoc)


class SegmentRule(Base):
    """One cell range of the RFM segment map: customers whose recency score (1-5) and
    frequency score fall in the ranges get the segment; the lowest ``priority`` that matches
    wins. A table, not code: marketing changes the map (``PUT /api/v1/analytics/segments``)."""

    __tablename__ = "rfm_segments"
    priority: Mapped[int] = mapped_column(Integer, primary_key=True)
    segment: Mapped[str] = mapped_column(String(40))
    r_min: Mapped[int] = mapped_column(Integer)
    r_max: Mapped[int] = mapped_column(Integer)
    f_min: Mapped[int] = mapped_column(Integer)
    f_max: Mapped[int] = mapped_column(Integer)


class CustomerScore(Base):
    """What the analytic jobs last said about a customer (the warehouse keeps every run):
    RFM scores and segment, and the lifetime-value model's figures."""

    __tablename__ = "customer_scores"
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    segment: Mapped[str | None] = mapped_column(String(40), index=True)
    r: Mapped[int | None] = mapped_column(Integer)
    f: Mapped[int | None] = mapped_column(Integer)
    m: Mapped[int | None] = mapped_column(Integer)
    p_alive: Mapped[float | None] = mapped_column(Float)
    # The purchases expected over the next ``horizon_days`` (the analysis run's horizon).
    expected_purchases: Mapped[float | None] = mapped_column(Float)
    horizon_days: Mapped[int | None] = mapped_column(Integer)
    value_12m_minor: Mapped[int | None] = mapped_column(BigInteger)
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OfferSettings(Base):
    """How offers are made (one row): the discount an offer gives, the share of customers held
    out (they get no offer, so the offers' uplift can be measured against them), and the
    thresholds a basket rule must pass."""

    __tablename__ = "offer_settings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    discount_bp: Mapped[int] = mapped_column(Integer, default=1000)
    holdout_bp: Mapped[int] = mapped_column(Integer, default=1000)
    min_support_bp: Mapped[int] = mapped_column(Integer, default=10)  # 0.1 % of baskets
    min_confidence_bp: Mapped[int] = mapped_column(Integer, default=2000)
    min_lift_bp: Mapped[int] = mapped_column(Integer, default=12000)
    max_offers: Mapped[int] = mapped_column(Integer, default=500)


class Offer(Base):
    """A cross-sell or up-sell offer mined from baskets: when the cart holds the trigger
    products (none: as soon as the card is read), the till offers ``product_id`` at
    ``discount_bp`` off to customers of ``segments`` (None: any) who consented to offers."""

    __tablename__ = "offers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(12))  # cross_sell | upsell
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    trigger_product_ids: Mapped[list] = mapped_column(JSONDoc)
    discount_bp: Mapped[int] = mapped_column(Integer)
    segments: Mapped[list | None] = mapped_column(JSONDoc)
    support: Mapped[float] = mapped_column(Float, default=0.0)
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    lift: Mapped[float] = mapped_column(Float, default=0.0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OfferExposure(Base):
    """An offer a till showed to a customer, or would have shown to a customer of the hold-out
    group (``held_out``): what the response rate and the uplift are measured on. ``sale_id``:
    the sale the visit ended in, ``accepted``: the offered product was bought in it."""

    __tablename__ = "offer_exposures"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    offer_id: Mapped[int] = mapped_column(Integer, index=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id"))
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), index=True)
    held_out: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    sale_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    accepted: Mapped[bool] = mapped_column(Boolean, default=False)


class CompanyDetails(Base):
    """The seller on quotes and invoices (one row): master data, set by central office
    (``PUT /api/v1/company``), audited; without it no invoice is issued."""

    __tablename__ = "company"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    inn: Mapped[str] = mapped_column(String(12))  # taxpayer number
    kpp: Mapped[str] = mapped_column(String(9), default="")
    address: Mapped[str] = mapped_column(String(300))
    bank: Mapped[str] = mapped_column(String(200))
    bic: Mapped[str] = mapped_column(String(9))
    account: Mapped[str] = mapped_column(String(20))

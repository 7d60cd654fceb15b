"""A POS node's local SQLite tables: its replica of central's master data and the facts it makes.

Replica tables (stores, users, products, barcodes, prices, customers) are written only by the
change-feed apply step and keep central's ids. Facts (sales, lines, payments) are written by the
till's service functions together with their ``outbox_events`` row, in one transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from kassa.common.db import NAMING, JSONDoc, UTCDateTime, utcnow

# A till's Alembic chain: every change to these tables is a migration there.
MIGRATIONS = Path(__file__).with_name("migrations")
# Made by the chain, not described by the models: the FTS5 name index and its shadow tables.
UNMODELLED_TABLES = ("products_fts",)


class Base(DeclarativeBase):
    """Declarative base for a till's tables: one metadata, one Alembic chain (``MIGRATIONS``)."""

    metadata = MetaData(naming_convention=NAMING)


class NodeIdentity(Base):
    """This node: who it is, where central is, its signing key and its sync cursors (one row)."""

    __tablename__ = "node_identity"
    node_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    store_id: Mapped[int] = mapped_column(Integer)
    central_url: Mapped[str] = mapped_column(String(300))
    private_key_pem: Mapped[str] = mapped_column(Text)
    feed_cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    last_push_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_pull_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_sync_error: Mapped[str | None] = mapped_column(Text)
    last_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Central's error code for the last failed sync (clock_skew, unknown_node, unreachable...).
    sync_error_code: Mapped[str | None] = mapped_column(String(32))
    clock_skew_seconds: Mapped[int | None] = mapped_column(Integer)
    # A key being rotated in: made before central knows it, used once central accepted it.
    pending_private_key_pem: Mapped[str | None] = mapped_column(Text)
    # Signs the till's session cookies; made at init, never leaves the node.
    session_secret: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Store(Base):
    __tablename__ = "stores"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    region_code: Mapped[str] = mapped_column(String(32))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    locale: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    currency: Mapped[str] = mapped_column(String(3), default="RUB", server_default="RUB")
    address: Mapped[str] = mapped_column(String(300), default="", server_default="")


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(32))
    store_id: Mapped[int | None] = mapped_column(Integer)
    pin_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Product(Base):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # The name in other languages ({"ru": ...}): the till shows its store's, and the name
    # search finds every one (``other_names`` is them joined, for the FTS index).
    names: Mapped[dict | None] = mapped_column(JSONDoc)
    other_names: Mapped[str] = mapped_column(Text, default="", server_default="")
    vat_rate_bp: Mapped[int] = mapped_column(Integer)
    unit: Mapped[str] = mapped_column(String(8), default="pcs")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    category: Mapped[str | None] = mapped_column(String(64))


class ProductBarcode(Base):
    __tablename__ = "product_barcodes"
    barcode: Mapped[str] = mapped_column(String(32), primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"),
                                            index=True)


class Price(Base):
    """Central's price rows that concern this node: chain-wide, its region's (``region_id``
    set) or its store's, each in force from ``effective_from`` in the store's local time,
    including changes scheduled ahead so they take effect offline too."""

    __tablename__ = "prices"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    product_id: Mapped[int] = mapped_column(Integer, index=True)
    store_id: Mapped[int | None] = mapped_column(Integer)
    region_id: Mapped[int | None] = mapped_column(Integer)
    effective_from: Mapped[datetime | None] = mapped_column(DateTime)
    amount_minor: Mapped[int] = mapped_column(BigInteger)


class Customer(Base):
    __tablename__ = "customers"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    card_number: Mapped[str | None] = mapped_column(String(16), unique=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(200))
    # The customer's card asks for its PIN before points are spent.
    card_has_pin: Mapped[bool] = mapped_column(Boolean, default=False)
    # Central blocked the customer: selling to them needs central's authorization.
    blocked: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")


class LoyaltyAccount(Base):
    """Central's account balance and tier as of the last pull (the till adds its own unsynced
    points on top)."""

    __tablename__ = "loyalty_accounts"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    tier: Mapped[str] = mapped_column(String(32))
    balance: Mapped[int] = mapped_column(BigInteger)
    # ``[[ISO date, points]]`` soonest to expire, as central worked it out.
    expiring: Mapped[list | None] = mapped_column(JSONDoc)


class LoyaltyPosting(Base):
    """Points this till moved (earned, spent, reversed, given back) that central's replica
    balance may not show yet. The till's balance is the replica's plus the postings not yet
    absorbed: an account update pulled after central acknowledged the posting's event
    includes it (``kassa.pos_node.replication.replica``). ``offline`` spends count against the
    card's daily offline allowance."""

    __tablename__ = "loyalty_postings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    points: Mapped[int] = mapped_column(BigInteger)
    offline: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    outbox_seq: Mapped[int] = mapped_column(BigInteger, index=True)
    # Central's replica balance includes it now; kept a day for the offline allowance.
    absorbed: Mapped[bool] = mapped_column(Boolean, default=False)


class LoyaltyRules(Base):
    """The chain's loyalty rules document from central (one row)."""

    __tablename__ = "loyalty_rules"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    document: Mapped[dict] = mapped_column(JSONDoc)


class BlockedCard(Base):
    """The block list from central's feed: a card here is refused at this till."""

    __tablename__ = "blocked_cards"
    card_number: Mapped[str] = mapped_column(String(16), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32))
    blocked_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StockCard(Base):
    """A card in this store's stock from central's feed, which the till may give a new member
    (``chip``: a smart card; ``printed``: a number with a barcode). Gone once given."""

    __tablename__ = "stock_cards"
    card_number: Mapped[str] = mapped_column(String(16), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))


class IssuerKey(Base):
    """Central's card issuer keys (public halves), by the id cards name in C5."""

    __tablename__ = "issuer_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    public_key_pem: Mapped[str] = mapped_column(Text)


class PeerNode(Base):
    """Every enrolled node's public key, to check card records other tills wrote."""

    __tablename__ = "peer_nodes"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    store_id: Mapped[int] = mapped_column(Integer)
    public_key_pem: Mapped[str] = mapped_column(Text)


class CardCounter(Base):
    """The highest record counter this till has seen on each card: an older record shown
    later is a replay."""

    __tablename__ = "card_counters"
    card_number: Mapped[str] = mapped_column(String(16), primary_key=True)
    highest: Mapped[int] = mapped_column(BigInteger)


class Counter(Base):
    """Gap-free counters (receipt numbers); incremented inside the fact's own transaction."""

    __tablename__ = "counters"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class Shift(Base):
    """A cashier's shift at this till: opened with a float, closed with a counted amount."""

    __tablename__ = "shifts"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    cashier_id: Mapped[int] = mapped_column(Integer)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opening_float_minor: Mapped[int] = mapped_column(BigInteger)
    expected_cash_minor: Mapped[int | None] = mapped_column(BigInteger)
    counted_cash_minor: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(8), default="open", index=True)  # open | closed


class CashMovement(Base):
    __tablename__ = "cash_movements"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    shift_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shifts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # in | out
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Sale(Base):
    """A cart while ``open``; then ``completed`` (with a receipt number), ``voided`` (an open
    cart abandoned) or ``post_voided`` (a completed sale cancelled within its shift)."""

    __tablename__ = "sales"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    status: Mapped[str] = mapped_column(String(12), default="open", index=True)
    receipt_no: Mapped[str | None] = mapped_column(String(64), unique=True)
    shift_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("shifts.id"), index=True)
    cashier_id: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sold_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    receipt_discount_bp: Mapped[int] = mapped_column(Integer, default=0)
    gross_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    discount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    total_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    vat_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    change_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    void_reason: Mapped[str | None] = mapped_column(String(200))
    # Loyalty: the account the sale earns for, the card presented (None: typed in or found),
    # and the points paying part of it with their value; ``points_hold_id`` is central's hold
    # when central authorized them, else the till accepted them offline (``points_offline``).
    account_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    card_number: Mapped[str | None] = mapped_column(String(16))
    points_burned: Mapped[int] = mapped_column(BigInteger, default=0)
    points_value_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    points_hold_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    points_offline: Mapped[bool] = mapped_column(Boolean, default=False)
    # The customer's points after this sale as the till counted them (the receipt prints it).
    points_balance_after: Mapped[int | None] = mapped_column(BigInteger)
    # The loyalty rules' version the sale earned under: central recomputes its points by it.
    rules_version: Mapped[int | None] = mapped_column(Integer)
    # Central's approval of a discount beyond the store manager's limit.
    authorization_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # The fiscal register's task for this receipt, stored before it is sent (a lost answer is
    # asked for again under it, never registered twice), and what the register answered.
    fiscal_task_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    fiscal_document_number: Mapped[int | None] = mapped_column(BigInteger)
    fiscal_sign: Mapped[str | None] = mapped_column(String(20))
    fiscal_drive_number: Mapped[str | None] = mapped_column(String(20))
    # Where the customer asked the receipt to go by e-mail (sent by the register, or central).
    receipt_email: Mapped[str | None] = mapped_column(String(200))
    # Loaded with the sale: a sale is always shown or sent whole.
    lines: Mapped[list["SaleLine"]] = relationship(
        back_populates="sale", cascade="all, delete-orphan", order_by="SaleLine.line_no",
        lazy="selectin")
    payments: Mapped[list["Payment"]] = relationship(
        back_populates="sale", cascade="all, delete-orphan", lazy="selectin")

    if TYPE_CHECKING:
        # Hung on a sale at runtime for the API's answer, never mapped nor stored (declarative
        # refuses a plain annotation, hence for the type checker only): its personal offers
        # (``offers.refresh``), its customer's account (``card_api.with_customer``) and whether
        # the card took its new record (checkout). Only the paths that answer with them set them.
        offers: list[dict]
        customer: dict | None
        card_record_written: bool | None


class SaleLine(Base):
    """Keyed by (sale, line number): a natural key, and one multi-row INSERT per sale."""

    __tablename__ = "sale_lines"
    sale_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sales.id"), primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    quantity_milli: Mapped[int] = mapped_column(BigInteger)
    unit: Mapped[str] = mapped_column(String(8), default="pcs")
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    gross_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    promotion_id: Mapped[int | None] = mapped_column(Integer)
    line_discount_bp: Mapped[int] = mapped_column(Integer, default=0)
    discount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    vat_rate_bp: Mapped[int] = mapped_column(Integer)
    vat_minor: Mapped[int] = mapped_column(BigInteger)
    points_earned: Mapped[int] = mapped_column(BigInteger, default=0)
    # A personal offer the customer took: its discount on the line, after any promotion.
    offer_id: Mapped[int | None] = mapped_column(Integer)
    offer_discount_bp: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    sale: Mapped[Sale] = relationship(back_populates="lines")


class Payment(Base):
    __tablename__ = "payments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sale_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sales.id"), index=True)
    method: Mapped[str] = mapped_column(String(16))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    tendered_minor: Mapped[int | None] = mapped_column(BigInteger)
    reference: Mapped[str | None] = mapped_column(String(64))
    sale: Mapped[Sale] = relationship(back_populates="payments")


class Return(Base):
    """Goods coming back: against a receipt (ours or another node's) or blind (override)."""

    __tablename__ = "returns"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    return_no: Mapped[str] = mapped_column(String(64), unique=True)
    original_sale_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    original_receipt_no: Mapped[str | None] = mapped_column(String(64), index=True)
    shift_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shifts.id"), index=True)
    cashier_id: Mapped[int] = mapped_column(Integer)
    override_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    reason: Mapped[str] = mapped_column(String(200), default="")
    total_minor: Mapped[int] = mapped_column(BigInteger)
    vat_minor: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    account_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    points_refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    # Central's approval of a refund beyond the store manager's limit.
    authorization_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # The fiscal register's return receipt (sellReturn), when the till has a register.
    fiscal_document_number: Mapped[int | None] = mapped_column(BigInteger)
    fiscal_sign: Mapped[str | None] = mapped_column(String(20))
    fiscal_drive_number: Mapped[str | None] = mapped_column(String(20))
    lines: Mapped[list["ReturnLine"]] = relationship(
        back_populates="ret", cascade="all, delete-orphan", order_by="ReturnLine.line_no",
        lazy="selectin")
    refunds: Mapped[list["Refund"]] = relationship(
        back_populates="ret", cascade="all, delete-orphan", lazy="selectin")


class ReturnLine(Base):
    __tablename__ = "return_lines"
    return_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("returns.id"), primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    original_line_no: Mapped[int | None] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    quantity_milli: Mapped[int] = mapped_column(BigInteger)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    vat_rate_bp: Mapped[int] = mapped_column(Integer)
    vat_minor: Mapped[int] = mapped_column(BigInteger)
    points_reversed: Mapped[int] = mapped_column(BigInteger, default=0)
    ret: Mapped[Return] = relationship(back_populates="lines")


class Refund(Base):
    __tablename__ = "refunds"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    return_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("returns.id"), index=True)
    method: Mapped[str] = mapped_column(String(16))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str | None] = mapped_column(String(64))
    ret: Mapped[Return] = relationship(back_populates="refunds")


class Override(Base):
    """A store manager's PIN at the till, allowing what the cashier may not do alone."""

    __tablename__ = "overrides"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    manager_id: Mapped[int] = mapped_column(Integer)
    cashier_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Promotion(Base):
    """Central's promotions (replica): percent, amount per unit, or n-for-m on products."""

    __tablename__ = "promotions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    product_ids: Mapped[list] = mapped_column(JSONDoc)
    percent_bp: Mapped[int] = mapped_column(Integer, default=0)
    amount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    n: Mapped[int] = mapped_column(Integer, default=0)
    m: Mapped[int] = mapped_column(Integer, default=0)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Offer(Base):
    """Central's personal offers (replica): ``product_id`` at ``discount_bp`` off, for customers
    of ``segments`` (None: any) whose cart holds every trigger product (none: as soon as they
    are identified)."""

    __tablename__ = "offers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(12))  # cross_sell | upsell
    product_id: Mapped[int] = mapped_column(Integer)
    trigger_product_ids: Mapped[list] = mapped_column(JSONDoc)
    discount_bp: Mapped[int] = mapped_column(Integer)
    segments: Mapped[list | None] = mapped_column(JSONDoc)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class OfferProfile(Base):
    """What central lets the till offer a customer (replica): their segment, their consent to
    personal offers, and whether they are in the hold-out group (offered nothing, but what they
    would have been offered is recorded, to measure the offers' uplift)."""

    __tablename__ = "offer_profiles"
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    segment: Mapped[str | None] = mapped_column(String(40))
    offers_ok: Mapped[bool] = mapped_column(Boolean)
    held_out: Mapped[bool] = mapped_column(Boolean)


class OfferExposure(Base):
    """An offer the open cart's customer was shown (held out: would have been shown), as it was
    shown. Kept while the cart is open; when it ends (paid or voided) each goes up as an
    ``offer.shown`` event and the row is deleted."""

    __tablename__ = "offer_exposures"
    __table_args__ = (UniqueConstraint("sale_id", "customer_id", "offer_id"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    sale_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sales.id"))
    offer_id: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    product_id: Mapped[int] = mapped_column(Integer)
    discount_bp: Mapped[int] = mapped_column(Integer)
    held_out: Mapped[bool] = mapped_column(Boolean)
    shown_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RoleLimit(Base):
    """Central's per-role limits (replica): above them a manager override is needed."""

    __tablename__ = "role_limits"
    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    max_discount_bp: Mapped[int] = mapped_column(Integer)
    max_refund_minor: Mapped[int] = mapped_column(BigInteger)


class PinFailure(Base):
    """Wrong PINs in a row per user name at this till (names nobody has too: the answers must
    not tell which exist), and until when the name is locked out."""

    __tablename__ = "pin_failures"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TillSession(Base):
    """A signed-in person at this till: the session cookie carries a random id, kept here
    only as its SHA-256; signing out deletes the row and the cookie stops working."""

    __tablename__ = "till_sessions"
    id_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutboxEvent(Base):
    """A fact waiting for central: ``seq`` is gap-free and increasing; kept until acknowledged."""

    __tablename__ = "outbox_events"
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                     primary_key=True, autoincrement=False)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSONDoc)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class CentralAuthorization(Base):
    """Central's answer to this till's request for a decision beyond the store manager's limit
    (``kassa.pos_node.sale.approvals``); an approval allows one action, once."""

    __tablename__ = "central_authorizations"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    subject: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(12))
    policy: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(200), default="")
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PrintJob(Base):
    """Something the till's printer has to do (``kassa.pos_node.devices.print_queue``): print a
    receipt, a cash slip or a shift report, or kick the drawer. Written in the transaction of
    what it prints; the print worker marks it done, so a printer that is off loses nothing."""

    __tablename__ = "print_jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # receipt, cash_movement, x_report, z_report, drawer
    kind: Mapped[str] = mapped_column(String(16))
    # What it prints: a receipt's number, a cash movement's or a shift's id.
    ref: Mapped[str] = mapped_column(String(64), default="")
    copy: Mapped[bool] = mapped_column(Boolean, default=False)
    # What cannot be read again later as it was (an X report's totals at the time).
    payload: Mapped[dict | None] = mapped_column(JSONDoc)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # queued, printed, expired (a drawer kick too late to be wanted)
    status: Mapped[str] = mapped_column(String(12), default="queued", index=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(200))

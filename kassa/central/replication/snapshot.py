"""A consistent snapshot of everything one node replicates, streamed as one gzip NDJSON file.

A new node loads it instead of replaying the change feed from version 0, then pulls the feed
from the snapshot's ``feed_version``. That version and every row are read in one read-only
transaction (REPEATABLE READ on PostgreSQL; on SQLite a read transaction in WAL mode is a
snapshot), and feed writers serialize (``feed.record_change``), so the file equals the feed
replayed up to exactly that version. Each row carries the ``data`` document the feed carries for
its entity, and the per-node scope is the feed's (``feed.NodeScope``). Rows come through
server-side cursors in batches and are compressed as they go, so a million customers never sit
in memory at once.

The file: a header ``{"format": "kassa-snapshot", "version": 1, "feed_version": V,
"node_id": ...}``, one ``{"entity", "key", "data"}`` line per row, and a trailer
``{"end": true, "rows": N, "counts": {entity: n}}`` whose absence tells a cut download.
"""

from __future__ import annotations

import typing
import zlib
from collections import Counter, namedtuple
from contextlib import contextmanager
from typing import Any, Iterator

import msgspec
from sqlalchemy import ColumnElement, Connection, String, cast, func, or_, select

from kassa.central.models import (
    Card,
    ChangeFeedEntry,
    Customer,
    IssuerKey,
    LoyaltyAccount,
    LoyaltySettings,
    Node,
    Price,
    Product,
    ProductBarcode,
    Promotion,
    Region,
    RoleLimit,
    Store,
    User,
)
from kassa.central.replication.feed import NodeScope
from kassa.central.replication.feed_documents import (
    account_doc,
    customer_doc,
    price_doc,
    product_doc,
    promotion_doc,
    region_doc,
    role_limit_doc,
    stock_card_doc,
    store_doc,
    user_doc,
)
from kassa.common.db import Database

FORMAT = "kassa-snapshot"
FORMAT_VERSION = 1
BATCH = 5000  # rows fetched per round trip of a server-side cursor
LINES_PER_CHUNK = 2000  # NDJSON lines compressed (and sent) together
# Level 3 compresses nearly as well as the default 6 at about twice the speed; central's
# CPU, not the network, is what a bootstrap waits on.
GZIP_LEVEL = 3
TILL_ROLES = ("cashier", "store_manager")  # the feed never carries office users

Entry = tuple[str, str, dict]  # entity, key, data: one line of the file


def stream(db: Database, scope: NodeScope, node_id: str) -> Iterator[bytes]:
    """The snapshot file for one node, as gzip-compressed chunks."""
    gzip = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # wbits 31: a gzip member
    with consistent_read(db) as conn:
        version = conn.scalar(select(func.coalesce(func.max(ChangeFeedEntry.version), 0)))
        lines = [_encode({"format": FORMAT, "version": FORMAT_VERSION,
                          "feed_version": version, "node_id": node_id})]
        counts: Counter[str] = Counter()
        for entity, key, data in rows(conn, scope):
            counts[entity] += 1
            lines.append(_encode({"entity": entity, "key": key, "data": data}))
            if len(lines) >= LINES_PER_CHUNK:
                chunk = gzip.compress(_join(lines))
                lines = []
                if chunk:  # an empty chunk would end a chunked HTTP body early
                    yield chunk
    lines.append(_encode({"end": True, "rows": counts.total(), "counts": dict(counts)}))
    yield gzip.compress(_join(lines)) + gzip.flush()


# msgspec, as for event payloads (decisions #18): the stdlib's json took a third of the
# snapshot's time at central, about ten times what msgspec takes.
_encode = msgspec.json.Encoder().encode


def _join(lines: list[bytes]) -> bytes:
    return b"\n".join(lines) + b"\n"


@contextmanager
def consistent_read(db: Database) -> Iterator[Connection]:
    """One read-only transaction in which every read sees the same committed state."""
    options: dict[str, object]
    if db.is_sqlite:
        # A deferred BEGIN (kassa.common.db): the WAL snapshot is fixed by the first read.
        options = {"kassa_read_only": True}
    else:
        options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    with db.engine.connect() as conn:
        conn.execution_options(**options)
        with conn.begin():
            yield conn


def rows(conn: Connection, scope: NodeScope) -> Iterator[Entry]:
    """Every row the node replicates, referenced rows before the rows that refer to them."""
    yield from _regions(conn)
    yield from _stores(conn)
    yield from _role_limits(conn)
    yield from _products(conn)
    yield from _prices(conn, scope)
    yield from _promotions(conn)
    yield from _users(conn, scope)
    yield from _customers(conn, scope)
    yield from _card_trust(conn)
    yield from _stock_cards(conn, scope)
    yield from _loyalty(conn, scope)
    yield from _latest_in_feed(conn, scope, FEED_ONLY)


def _batches(conn: Connection, stmt) -> Iterator[list[Any]]:
    """Rows as named tuples, a batch at a time through a server-side cursor. The doc functions
    read attributes, and that costs several times less on a named tuple than on a Core row,
    which shows at a million customers."""
    result = conn.execute(stmt.execution_options(yield_per=BATCH))
    # The fields are the statement's columns, known only here; mypy types a namedtuple only
    # from a literal field list, so the records are Any to it.
    record = typing.cast(Any, namedtuple)("Record", list(result.keys()))
    for batch in result.partitions():
        yield list(map(record._make, batch))


def _records(conn: Connection, stmt) -> Iterator[Any]:
    for batch in _batches(conn, stmt):
        yield from batch


# The feed's documents for the entities masterdata builds inline. Like masterdata's and feed's
# doc functions they read only attributes, so all of them take the records read here: building
# a million ORM objects would be most of the time.

def _regions(conn: Connection) -> Iterator[Entry]:
    for r in _records(conn, select(Region.id, Region.code, Region.name).order_by(Region.id)):
        yield "region", str(r.id), region_doc(r)


def _stores(conn: Connection) -> Iterator[Entry]:
    stmt = (select(Store.id, Store.code, Store.name, Store.timezone, Store.locale, Store.currency,
                   Store.address, Region.code.label("region_code"))
            .join(Region, Store.region_id == Region.id).order_by(Store.id))
    for s in _records(conn, stmt):
        yield "store", str(s.id), store_doc(s)


def _role_limits(conn: Connection) -> Iterator[Entry]:
    for r in _records(conn, select(RoleLimit).order_by(RoleLimit.role)):
        yield "role_limit", r.role, role_limit_doc(r)


def _products(conn: Connection) -> Iterator[Entry]:
    """Products in id order, a batch at a time, each batch with its barcodes in one query."""
    stmt = select(Product.id, Product.sku, Product.name, Product.names, Product.vat_rate_bp,
                  Product.unit, Product.active, Product.category).order_by(Product.id)
    for batch in _batches(conn, stmt):
        barcodes: dict[int, list] = {}
        for b in conn.execute(select(ProductBarcode.product_id, ProductBarcode.barcode)
                              .where(ProductBarcode.product_id.between(batch[0].id,
                                                                       batch[-1].id))
                              .order_by(ProductBarcode.barcode)):
            barcodes.setdefault(b.product_id, []).append(b.barcode)
        for p in batch:
            yield "product", str(p.id), product_doc(p, barcodes.get(p.id, []))


def _prices(conn: Connection, scope: NodeScope) -> Iterator[Entry]:
    """Chain-wide prices, the region's and this store's own, scheduled ones included; other
    stores' and regions' prices stay at central."""
    stmt = (select(Price.id, Price.product_id, Price.store_id, Price.region_id,
                   Price.amount_minor, Price.effective_from)
            .where(or_(Price.store_id.is_(None), Price.store_id == scope.store_id),
                   or_(Price.region_id.is_(None), Price.region_id == scope.region_id))
            .order_by(Price.id))
    for p in _records(conn, stmt):
        yield "price", str(p.id), price_doc(p)


def _promotions(conn: Connection) -> Iterator[Entry]:
    for p in _records(conn, select(Promotion).order_by(Promotion.id)):
        yield "promotion", str(p.id), promotion_doc(p)


def _users(conn: Connection, scope: NodeScope) -> Iterator[Entry]:
    """Till users of this node's store only: PIN hashes go to no other store's tills."""
    stmt = (select(User.id, User.username, User.full_name, User.role, User.store_id,
                   User.pin_hash, User.active)
            .where(User.role.in_(TILL_ROLES), User.store_id == scope.store_id)
            .order_by(User.id))
    for u in _records(conn, stmt):
        yield "user", str(u.id), user_doc(u)


def _customers(conn: Connection, scope: NodeScope) -> Iterator[Entry]:
    """All customers, or where the feed rule scopes them by region, those whose home store is
    in the node's region and those without a home store (table order: no sort of a million)."""
    stmt = select(_uuid_text(Customer.id, conn.dialect.name).label("id"), Customer.name,
                  Customer.card_number, Customer.phone, Customer.email, Customer.card_has_pin,
                  Customer.blocked_at)
    if "customer" in scope.region_entities:
        stmt = stmt.where(_customer_in_region(scope))
    for c in _records(conn, stmt):
        yield "customer", str(c.id), customer_doc(c)


def _card_trust(conn: Connection) -> Iterator[Entry]:
    """What a till needs to check cards: issuer keys, every trusted node's key (records other
    tills wrote), and the block list; documents as ``cards`` and ``masterdata`` record them."""
    for k in _records(conn, select(IssuerKey.id, IssuerKey.public_key_pem)
                      .where(IssuerKey.active.is_(True)).order_by(IssuerKey.id)):
        yield "issuer_key", str(k.id), {"id": k.id, "public_key_pem": k.public_key_pem}
    for n in _records(conn, select(Node.id, Node.store_id, Node.public_key_pem)
                      .where(Node.active.is_(True), Node.public_key_pem.is_not(None))
                      .order_by(Node.id)):
        yield "node", n.id, {"id": n.id, "store_id": n.store_id,
                             "public_key_pem": n.public_key_pem}
    for c in _records(conn, select(Card.card_number, Card.block_reason, Card.blocked_at)
                      .where(Card.status.in_(("blocked", "replaced")))
                      .order_by(Card.card_number)):
        yield "card_block", c.card_number, {"card_number": c.card_number,
                                            "reason": c.block_reason,
                                            "blocked_at": c.blocked_at.isoformat()}


def _stock_cards(conn: Connection, scope: NodeScope) -> Iterator[Entry]:
    """The cards in the node's store's stock, which it may give new members."""
    for c in _records(conn, select(Card.card_number, Card.kind).where(
            Card.status == "stock", Card.store_id == scope.store_id)
            .order_by(Card.card_number)):
        yield "stock_card", c.card_number, stock_card_doc(c.card_number, c.kind)


def _customer_in_region(scope: NodeScope):
    """Customers whose home store is in the node's region, and those without a home store."""
    in_region = select(Store.id).where(Store.region_id == scope.region_id)
    return or_(Customer.home_store_id.is_(None), Customer.home_store_id.in_(in_region))


def _loyalty(conn: Connection, scope: NodeScope) -> Iterator[Entry]:
    """The rules document, and the accounts of the customers this node replicates."""
    for r in _records(conn, select(LoyaltySettings.id, LoyaltySettings.document)):
        yield "loyalty_rules", str(r.id), {"id": r.id, "document": r.document}
    dialect = conn.dialect.name
    stmt = select(_uuid_text(LoyaltyAccount.id, dialect).label("id"),
                  _uuid_text(LoyaltyAccount.customer_id, dialect).label("customer_id"),
                  LoyaltyAccount.tier, LoyaltyAccount.balance, LoyaltyAccount.expiring)
    if "customer" in scope.region_entities:
        stmt = stmt.join(Customer, Customer.id == LoyaltyAccount.customer_id).where(
            _customer_in_region(scope))
    for a in _records(conn, stmt):
        yield "loyalty_account", a.id, account_doc(a)


# Entities whose documents only the change feed holds (``central.offers`` publishes them from
# its own runs): the snapshot carries each key's newest entry that is not a tombstone.
FEED_ONLY = ("offer", "offer_profile")


def _latest_in_feed(conn: Connection, scope: NodeScope,
                    entities: tuple[str, ...]) -> Iterator[Entry]:
    for entity in entities:
        newest = (select(func.max(ChangeFeedEntry.version).label("version"))
                  .where(ChangeFeedEntry.entity == entity, scope.clause())
                  .group_by(ChangeFeedEntry.entity_key).subquery())
        stmt = (select(ChangeFeedEntry.entity_key, ChangeFeedEntry.payload)
                .join(newest, newest.c.version == ChangeFeedEntry.version)
                .where(ChangeFeedEntry.deleted.is_(False)).order_by(ChangeFeedEntry.version))
        for row in _records(conn, stmt):
            yield entity, row.entity_key, row.payload


def _uuid_text(column, dialect: str):
    """A UUID column as the feed writes it (``str(uuid)``), made by the database rather than
    through a million ``uuid.UUID`` objects: PostgreSQL's uuid type casts to that text, and on
    SQLite, where SQLAlchemy keeps 32 lower-case hex digits, the dashes are put in."""
    if dialect == "postgresql":
        return cast(column, String)
    parts = [func.substr(column, start, length, type_=String)
             for start, length in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))]
    text: ColumnElement[str] = parts[0]
    for part in parts[1:]:
        text = text + "-" + part
    return text

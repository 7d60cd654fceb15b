"""Bootstrap of a new node: central's snapshot of everything it replicates, then the feed.

Replaying the change feed from version 0 grows with central's whole history; the snapshot
(``kassa.central.replication.snapshot``) is one file of the current rows and the feed version they
are consistent with. The download goes to a temporary file first, so no local transaction waits on
the network (as for pull). The file is then applied in ONE transaction: the replica tables are
emptied and refilled in chunks of Core executemany, and the feed cursor is set to the snapshot's
version, from where the normal pull continues. Anything wrong (a cut download, a bad line, a missing
or wrong trailer) rolls all of it back and leaves the node as it was.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
import zlib
from collections import Counter
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from typing import BinaryIO, Callable, Iterable, Iterator

import msgspec
import requests
from sqlalchemy import Uuid, bindparam, delete, insert, select
from sqlalchemy.exc import IntegrityError

from kassa.common.db import Database, utcnow
from kassa.common.signing import signature_headers
from kassa.pos_node.models import (
    BlockedCard,
    Customer,
    IssuerKey,
    LoyaltyAccount,
    LoyaltyRules,
    NodeIdentity,
    Offer,
    OfferProfile,
    PeerNode,
    Price,
    Product,
    ProductBarcode,
    Promotion,
    RoleLimit,
    StockCard,
    Store,
    User,
)
from kassa.pos_node.replication.client import CentralClient, SyncError, client_for
from kassa.pos_node.replication.replica import canonical, other_names

SNAPSHOT_PATH = "/api/v1/sync/snapshot"
FORMAT, FORMAT_VERSION = "kassa-snapshot", 1
CHUNK_ROWS = 5000  # rows per executemany
READ_BYTES = 1 << 20
LOAD_CACHE_KIB = -131072  # PRAGMA cache_size: negative is KiB, so 128 MB

# Insert order; emptied in reverse. Barcodes follow their products.
REPLICA = (Store, RoleLimit, Product, ProductBarcode, Price, Promotion, User, Customer,
           BlockedCard, StockCard, IssuerKey, PeerNode, LoyaltyAccount, LoyaltyRules, Offer,
           OfferProfile)


class SnapshotError(SyncError):
    """The snapshot is not whole or not well-formed: nothing of it was applied."""

    def __init__(self, message: str):
        super().__init__(message, code="bad_snapshot")


def bootstrap(db: Database, client: CentralClient) -> dict:
    """Replace this node's replica with central's snapshot and move the feed cursor to it.

    Returns ``feed_version``, ``rows``, ``counts`` (per entity), ``bytes`` downloaded and
    ``seconds``."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as file:
        size = download(client, file)
        file.seek(0)
        result = apply_snapshot(db, iter(partial(file.read, READ_BYTES), b""))
    return {**result, "bytes": size, "seconds": round(time.perf_counter() - started, 3)}


def bootstrap_if_new(db_url: str, timeout: float = 10.0) -> dict | None:
    """Bootstrap a node that has never pulled (feed cursor 0); ``None`` for any other node,
    which the normal pull keeps up to date."""
    db = Database(db_url)
    try:
        with db.read() as session:
            node = session.scalars(select(NodeIdentity)).first()
        if node is None or node.feed_cursor != 0:
            return None
        with client_for(db, timeout) as client:
            return bootstrap(db, client)
    finally:
        db.dispose()


def download(client: CentralClient, into: BinaryIO) -> int:
    """Write the snapshot into ``into`` as it arrives; returns the bytes written. Signed like
    every node request, over an empty body."""
    headers = {"Accept": "application/gzip",
               **signature_headers(client.node_id, client.key, "GET", SNAPSHOT_PATH, b"")}
    size = 0
    try:
        with client.http.get(client.base + SNAPSHOT_PATH, headers=headers, stream=True,
                             timeout=client.timeout) as resp:
            if resp.status_code != 200:
                raise _refusal(resp)
            for chunk in resp.iter_content(READ_BYTES):
                into.write(chunk)
                size += len(chunk)
    except requests.RequestException as err:
        raise SyncError(f"central unreachable: {err.__class__.__name__}") from err
    return size


def _refusal(resp: requests.Response) -> SyncError:
    try:
        doc = resp.json()
    except ValueError:
        doc = {}
    return SyncError(doc.get("message", f"HTTP {resp.status_code}"),
                     code=doc.get("error", "http_error"), details=doc.get("details"))


def apply_snapshot(db: Database, chunks: Iterable[bytes]) -> dict:
    """Apply a snapshot file, given as its gzip bytes in chunks, in one transaction."""
    docs = _documents(chunks)
    header = _header(next(docs, None))
    version = header["feed_version"]
    try:
        with db.transaction() as session:
            node = session.scalars(select(NodeIdentity)).one()
            if header.get("node_id") != node.node_id:
                raise SnapshotError(f"The snapshot is for node {header.get('node_id')!r}.")
            conn = session.connection()
            # Sale lines refer to products: checked at commit, when the products are back.
            conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
            with _large_cache(conn), _name_index_rebuilt(conn):
                for model in reversed(REPLICA):
                    conn.execute(delete(model))
                counts = _load(conn, docs)
            node.feed_cursor = version
            node.last_pull_at = node.last_contact_at = utcnow()
            node.last_sync_error = None
    except IntegrityError as err:
        raise SnapshotError(f"The snapshot does not fit the replica: {err.orig}") from err
    return {"feed_version": version, "rows": counts.total(), "counts": dict(counts)}


@contextmanager
def _large_cache(conn) -> Iterator[None]:
    """A larger page cache while loading: a million customers go into their indexes in random
    key order, and with SQLite's default 2 MB most inserts wait for pages (bench: the apply
    takes about a third less with 128 MB). Set back before the connection is pooled again."""
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size = {LOAD_CACHE_KIB}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {before}")


@contextmanager
def _name_index_rebuilt(conn) -> Iterator[None]:
    """The till's name search index (FTS5 ``products_fts``) is kept by triggers on products,
    one index update per row: for 100,000 products that took 4.0 s, against 0.7 s for loading
    without them and rebuilding the index once (bench). So the triggers are dropped for the
    load and re-created from their own stored SQL; on a failure the rollback restores them."""
    triggers = conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                                    "AND tbl_name = 'products'").all()
    for name, _sql in triggers:
        conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
    yield
    conn.exec_driver_sql("INSERT INTO products_fts (products_fts) VALUES ('rebuild')")
    for _name, sql in triggers:
        conn.exec_driver_sql(sql)


def _header(header) -> dict:
    """The first line, if it is a snapshot header this node understands."""
    if (not isinstance(header, dict) or header.get("format") != FORMAT
            or header.get("version") != FORMAT_VERSION
            or not isinstance(header.get("feed_version"), int)):
        raise SnapshotError("The file does not start with a kassa snapshot header.")
    return header


def _documents(chunks: Iterable[bytes]) -> Iterator[dict]:
    """The file's lines as JSON documents; the gzip stream must end where the file ends (its
    CRC is checked there too)."""
    inflater = zlib.decompressobj(wbits=31)
    tail, number = b"", 0
    try:
        for chunk in chunks:
            *lines, tail = (tail + inflater.decompress(chunk)).split(b"\n")
            for line in lines:
                number += 1
                yield _decode(line)
    except (zlib.error, ValueError) as err:  # msgspec.DecodeError is a ValueError
        raise SnapshotError(f"Line {number + 1} of the snapshot is unreadable: {err}") from err
    if not inflater.eof or tail or inflater.unused_data:
        raise SnapshotError("The snapshot was cut off or has data after its end.")


# msgspec, as for event payloads (decisions #18): about twice as fast as json.loads here.
_decode = msgspec.json.Decoder().decode


def _load(conn, docs: Iterator[dict]) -> Counter:
    """Insert the rows in chunks until the trailer; returns the rows per entity."""
    pending: dict = {model: [] for model in REPLICA}
    counts: Counter[str] = Counter()
    for doc in docs:
        try:
            if doc.get("end") is True:
                break
            loader = LOADERS.get(doc["entity"])
            if loader is not None:  # an entity this node version does not replicate
                for model, row in loader(doc["data"]):
                    pending[model].append(row)
                    if len(pending[model]) >= CHUNK_ROWS:
                        _flush(conn, model, pending)
            counts[doc["entity"]] += 1
        except (AttributeError, KeyError, TypeError, ValueError) as err:
            raise SnapshotError(f"Row {counts.total() + 1} of the snapshot is bad: "
                                f"{err!r}") from err
    else:
        raise SnapshotError("The snapshot has no trailer: the download was cut off.")
    if next(docs, None) is not None:
        raise SnapshotError("The snapshot has lines after its trailer.")
    if doc.get("rows") != counts.total():
        raise SnapshotError(f"The trailer says {doc.get('rows')} rows, the file has "
                            f"{counts.total()}.")
    for model in REPLICA:
        _flush(conn, model, pending)
    return counts


def _flush(conn, model, pending: dict) -> None:
    if pending[model]:
        if model in RAW_INSERTS:
            conn.exec_driver_sql(RAW_INSERTS[model], pending[model])
        else:
            conn.execute(INSERTS[model], pending[model])
        pending[model] = []


INSERTS = {model: insert(model) for model in REPLICA}
# Ids arrive as text and are bound as text (SQLAlchemy's Uuid(as_uuid=False)): the same 32 hex
# digits are stored as for a UUID object, without making one per row.
INSERTS[OfferProfile] = insert(OfferProfile).values(
    customer_id=bindparam("customer_id", type_=Uuid(as_uuid=False)))


# Feed documents to replica rows, as kassa.pos_node.replication.replica applies them: the document's
# fields that are columns of the replica table, with ids and instants typed.

Loader = Callable[[dict], Iterable[tuple[type, dict]]]
_COLUMNS = {model: tuple(model.__table__.columns.keys()) for model in REPLICA}


def _row(model, data: dict) -> dict:
    return {column: data[column] for column in _COLUMNS[model]}


def _plain(model) -> Loader:
    return lambda data: ((model, _row(model, data)),)


def _product(data: dict):
    names = data.get("names")  # a central before names sends none
    yield Product, _row(Product, {**data, "names": names, "other_names": other_names(names)})
    for code in data["barcodes"]:
        yield ProductBarcode, {"barcode": code, "product_id": data["id"]}


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


# The two tables of a million rows each go in as tuples through the driver's executemany,
# typed here as SQLAlchemy would store them on SQLite (a UUID as its 32 hex digits, a boolean as
# 0/1, JSON as its text): SQLAlchemy's per-row binding was most of the apply (bench_bootstrap).
RAW_INSERTS = {
    Customer: "INSERT INTO customers (id, name, card_number, phone, email, card_has_pin, "
              "blocked) VALUES (?, ?, ?, ?, ?, ?, ?)",
    LoyaltyAccount: "INSERT INTO loyalty_accounts (id, customer_id, tier, balance, expiring) "
                    "VALUES (?, ?, ?, ?, ?)",
}
_json_text = json.dumps  # SQLAlchemy's JSON serializer, so the text is the same as pull's


def _hex(value: str, what: str) -> str:
    if not _UUID.fullmatch(value):  # the form str(uuid) gives, so stored as pull would
        raise ValueError(f"{what} {value!r} is not a UUID")
    return value.replace("-", "")


def _customer(data: dict):
    yield Customer, (_hex(data["id"], "customer id"), data["name"], data["card_number"],
                     data["phone"], data["email"], int(bool(data["card_has_pin"])),
                     int(bool(data.get("blocked", False))))


def _instant(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _promotion(data: dict):
    yield Promotion, {**_row(Promotion, data), "starts_at": _instant(data["starts_at"]),
                      "ends_at": _instant(data["ends_at"])}


def _price(data: dict):
    yield Price, {**_row(Price, data), "effective_from": _instant(data["effective_from"])}


def _card_block(data: dict):
    yield BlockedCard, {**_row(BlockedCard, data), "blocked_at": _instant(data["blocked_at"])}


def _loyalty_account(data: dict):
    yield LoyaltyAccount, (_hex(data["id"], "account id"),
                           _hex(data["customer_id"], "account customer_id"), data["tier"],
                           data["balance"], _json_text(data.get("expiring")))


def _offer_profile(data: dict):
    if not _UUID.fullmatch(data["customer_id"]):
        raise ValueError(f"offer profile customer {data['customer_id']!r} is not a UUID")
    yield OfferProfile, _row(OfferProfile, data)


LOADERS: dict[str, Loader] = {
    "offer": _plain(Offer),
    "offer_profile": _offer_profile,
    "loyalty_account": _loyalty_account,
    "loyalty_rules": lambda data: ((LoyaltyRules, {"id": data["id"],
                                                    "document": canonical(data["document"])}),),
    "card_block": _card_block,
    "issuer_key": _plain(IssuerKey),
    "node": _plain(PeerNode),
    "store": _plain(Store),
    "role_limit": _plain(RoleLimit),
    "product": _product,
    "price": _price,
    "promotion": _promotion,
    "user": _plain(User),
    "customer": _customer,
    "stock_card": _plain(StockCard),
}

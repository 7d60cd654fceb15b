"""Price lists in bulk, from and to CSV: chain-wide, per region or per store, standing or
scheduled.

Columns: ``sku, store_code, region_code, price, effective_from`` (at most one of the two codes;
``effective_from`` a local wall-clock time like ``2026-12-01T00:00``, empty for a standing
price). Checked whole first, every problem reported with its line, field and reason; then all
or nothing, or the good rows with the bad ones listed (``skip_bad``), as for products
(``kassa.central.catalog.product_imports``). A row for a product, scope and start that has a price
changes it; any other row adds one. A regional manager's file may only price their region and its
stores.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from kassa.central.access import audit
from kassa.central.catalog.prices import visible_prices
from kassa.central.catalog.product_imports import CHUNK, MAX_ROWS, Record, Report, parse_minor
from kassa.central.models import Price, Product, Region, Store, User
from kassa.central.replication.feed import record_changes
from kassa.central.replication.feed_documents import price_doc
from kassa.common.db import table
from kassa.common.formats.spreadsheet import cell
from kassa.common.storage.bulk import insert_rows, update_rows

COLUMNS = ("sku", "store_code", "region_code", "price", "effective_from")


def _slot(p) -> tuple:
    return (p["product_id"], p["store_id"], p["region_id"], p["effective_from"])


def import_prices(session: Session, text: str, user: User, *, skip_bad: bool = False) -> Report:
    report = Report()
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        report.error(1, "", ",".join(missing), "the header lacks these columns")
        return report
    products: dict[str, int] = {}
    stores = {s.code: s for s in session.scalars(select(Store))}
    regions = {r.code: r for r in session.scalars(select(Region))}
    raw_rows = []
    for line, raw in enumerate(reader, start=2):
        if line - 1 > MAX_ROWS:
            report.error(line, "", "", f"more than {MAX_ROWS} rows")
            break
        raw_rows.append((line, raw))
    skus = sorted({(raw.get("sku") or "").strip() for _line, raw in raw_rows})
    for start in range(0, len(skus), CHUNK):
        products.update(session.execute(select(Product.sku, Product.id).where(
            Product.sku.in_(skus[start:start + CHUNK]))).all())
    seen: dict[tuple, int] = {}
    rows, bad = [], 0
    for line, raw in raw_rows:
        row = _row(line, raw, report, products, stores, regions, user)
        if row is not None and _slot(row) in seen:
            report.error(line, row["sku"], "effective_from",
                         f"the same product, scope and start as line {seen[_slot(row)]}")
            row = None
        if row is None:
            bad += 1
            continue
        seen[_slot(row)] = line
        rows.append(row)
    report.skipped = bad
    if report.errors and not skip_bad:
        return report
    _write(session, rows, report)
    audit.record(session, "masterdata_import",
                 f"prices: {report.created} new, {report.updated} changed",
                 reason=f"{report.skipped} rows skipped" if report.skipped else "",
                 actor_id=user.id)
    session.flush()
    return report


def _row(line: int, raw: dict, report: Report, products: dict, stores: dict, regions: dict,
         user: User) -> dict | None:
    before = report.errors_total
    sku = (raw.get("sku") or "").strip()
    if sku not in products:
        report.error(line, sku, "sku", "no product with this SKU")
    store_code = (raw.get("store_code") or "").strip()
    region_code = (raw.get("region_code") or "").strip()
    store, region = stores.get(store_code), regions.get(region_code)
    regional = user.role == "regional_manager"
    if store_code and region_code:
        report.error(line, sku, "store_code", "a store or a region, not both")
    elif store_code and (store is None or regional and store.region_id != user.region_id):
        report.error(line, sku, "store_code", "no such store (in your reach)")
    elif region_code and (region is None or regional and region.id != user.region_id):
        report.error(line, sku, "region_code", "no such region (in your reach)")
    elif regional and not store_code and not region_code:
        report.error(line, sku, "region_code", "a regional manager prices their region")
    price = parse_minor(raw.get("price"))
    if price is None:
        report.error(line, sku, "price", "an amount like 89.90, not negative")
    when = (raw.get("effective_from") or "").strip()
    start = None
    if when:
        try:
            start = datetime.fromisoformat(when)
        except ValueError:
            report.error(line, sku, "effective_from", "a local time like 2026-12-01T00:00")
        else:
            if start.tzinfo is not None or not 2000 <= start.year <= 2999:
                report.error(line, sku, "effective_from",
                             "a local time without a zone, from 2000 to 2999")
    if report.errors_total > before:
        return None
    return {"sku": sku, "product_id": products[sku], "store_id": store.id if store else None,
            "region_id": region.id if region and not store else None,
            "effective_from": start, "amount_minor": price}


def _write(session: Session, rows: list[dict], report: Report) -> None:
    existing = {}
    product_ids = sorted({r["product_id"] for r in rows})
    for start in range(0, len(product_ids), CHUNK):
        for p in session.execute(select(Price.id, Price.product_id, Price.store_id,
                                        Price.region_id, Price.effective_from).where(
                Price.product_id.in_(product_ids[start:start + CHUNK]))).mappings():
            existing[_slot(p)] = p["id"]
    changed, new = [], []
    for r in rows:
        values = {k: r[k] for k in ("product_id", "store_id", "region_id", "effective_from",
                                    "amount_minor")}
        if _slot(r) in existing:
            changed.append({"id": existing[_slot(r)], **values})
        else:
            new.append(values)
    update_rows(session, table(Price), "id", changed, ("amount_minor",))
    new = insert_rows(session, table(Price), new, CHUNK)
    record_changes(session, "price", [(p["id"], price_doc(Record(p)), p["store_id"],
                                       p["region_id"]) for p in changed + new])
    report.created, report.updated, report.written = len(new), len(changed), bool(rows)


def export_prices(session: Session, user: User) -> str:
    """The price rows ``user`` may see, in the import's columns."""
    store, region = aliased(Store), aliased(Region)
    stmt = (select(Product.sku, store.code, region.code, Price.amount_minor,
                   Price.effective_from)
            .join(Product, Product.id == Price.product_id)
            .outerjoin(store, store.id == Price.store_id)
            .outerjoin(region, region.id == Price.region_id)
            .order_by(Product.sku, Price.id))
    visible = visible_prices(user)
    if visible is not None:
        stmt = stmt.where(visible)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for sku, store_code, region_code, amount, start in session.execute(stmt):
        writer.writerow([cell(sku), store_code or "", region_code or "",
                         f"{amount / 100:.2f}", start.isoformat() if start else ""])
    return out.getvalue()

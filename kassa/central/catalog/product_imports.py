"""Products and their chain-wide prices in bulk, from and to CSV.

Columns: ``sku, name, vat_rate_bp, unit, category, barcodes, price, active`` (barcodes
separated by ``|``, the price with a decimal point, e.g. ``89.90``; ``category`` and
``active`` may be empty). Every row is checked first and every problem reported with its
line, field and reason. Then either nothing is written when any row is bad (``skip_bad`` off,
the default: a file half imported is worse than none) or the good rows are written and the bad
ones listed (``skip_bad`` on). A SKU already known is updated; a new one is created. Writing is
in bulk (multi-row statements, one feed insert per entity) in the caller's transaction, so the
tills get every change at their next pull, and the import is one entry in the audit log.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from sqlalchemy import delete, insert, select
from sqlalchemy import text as sql
from sqlalchemy.orm import Session

from kassa.central.access import audit
from kassa.central.catalog.prices import CHAIN_STANDING, drop_started
from kassa.central.models import Price, Product, ProductBarcode, VatRate
from kassa.central.replication.feed import record_changes
from kassa.central.replication.feed_documents import price_doc, product_doc
from kassa.common.db import table
from kassa.common.formats.spreadsheet import cell
from kassa.common.storage.bulk import copy_rows, insert_rows, is_postgresql, next_ids, update_rows

COLUMNS = ("sku", "name", "vat_rate_bp", "unit", "category", "barcodes", "price", "active")
MAX_ROWS = 1_000_000
CHUNK = 5000


@dataclass(frozen=True)
class Row:
    line: int
    sku: str
    name: str
    vat_rate_bp: int
    unit: str
    category: str | None
    barcodes: tuple[str, ...]
    price_minor: int
    active: bool


@dataclass
class Report:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    written: bool = False
    errors: list[dict] = field(default_factory=list)
    errors_total: int = 0  # every error found; ``errors`` lists the first 1000

    def error(self, line: int, sku: str, column: str, message: str) -> None:
        self.errors_total += 1
        if len(self.errors) < 1000:  # a wholly wrong file need not list a million lines
            self.errors.append({"line": line, "sku": sku, "field": column,
                                "message": message})


def parse(text: str, report: Report) -> list[Row]:
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        report.error(1, "", ",".join(missing), "the header lacks these columns")
        return []
    rows, bad_lines = [], set()
    for line, raw in enumerate(reader, start=2):
        if line - 1 > MAX_ROWS:
            report.error(line, "", "", f"more than {MAX_ROWS} rows")
            break
        row = _row(line, raw, report)
        if row is None:
            bad_lines.add(line)
        else:
            rows.append(row)
    report.skipped = len(bad_lines)
    return rows


def _row(line: int, raw: dict, report: Report) -> Row | None:
    sku = (raw.get("sku") or "").strip()
    before = report.errors_total
    if not sku or len(sku) > 64:
        report.error(line, sku, "sku", "1 to 64 characters")
    name = (raw.get("name") or "").strip()
    if not name or len(name) > 200:
        report.error(line, sku, "name", "1 to 200 characters")
    vat = _int(raw.get("vat_rate_bp"))
    if vat is None or not 0 <= vat <= 10_000:
        report.error(line, sku, "vat_rate_bp", "basis points from 0 to 10000 (2000 = 20 %)")
    unit = (raw.get("unit") or "pcs").strip()
    if unit not in ("pcs", "kg"):
        report.error(line, sku, "unit", "pcs or kg")
    category = (raw.get("category") or "").strip() or None
    if category is not None and len(category) > 64:
        report.error(line, sku, "category", "at most 64 characters")
    barcodes = tuple(b.strip() for b in (raw.get("barcodes") or "").split("|") if b.strip())
    if any(not b.isdigit() or not 8 <= len(b) <= 14 for b in barcodes):
        report.error(line, sku, "barcodes", "8 to 14 digits each, separated by |")
    price = parse_minor(raw.get("price"))
    if price is None:
        report.error(line, sku, "price", "an amount like 89.90, not negative")
    active = (raw.get("active") or "1").strip().lower()
    if active not in ("1", "0", "true", "false", "yes", "no"):
        report.error(line, sku, "active", "1 or 0")
    if report.errors_total > before or vat is None or price is None:
        return None
    return Row(line, sku, name, vat, unit, category, barcodes, price,
               active in ("1", "true", "yes"))


def _int(text) -> int | None:
    try:
        return int((text or "").strip())
    except ValueError:
        return None


def parse_minor(text) -> int | None:
    try:
        amount = Decimal((text or "").strip())
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0 or amount > 10**10 \
            or amount != amount.quantize(Decimal("0.01")):
        return None
    return int(amount * 100)


def import_products(session: Session, text: str, *, skip_bad: bool = False,
                    actor_id: int | None = None) -> Report:
    report = Report()
    rows = parse(text, report)
    rows = _check_against_central(session, rows, report)
    if report.errors and not skip_bad:
        report.created = report.updated = 0
        return report
    known = _known_skus(session, [r.sku for r in rows])
    new = [r for r in rows if r.sku not in known]
    old = [r for r in rows if r.sku in known]
    ids = dict(known)
    ids.update(_insert_products(session, new))
    update_rows(session, table(Product), "id",
                [{"id": ids[r.sku], **_product_values(r)} for r in old],
                ("name", "vat_rate_bp", "unit", "category", "active"))
    for start in range(0, len(old), CHUNK):
        session.execute(delete(ProductBarcode).where(ProductBarcode.product_id.in_(
            [ids[r.sku] for r in old[start:start + CHUNK]])))
    copy_rows(session, table(ProductBarcode),
              [{"barcode": b, "product_id": ids[r.sku]} for r in rows for b in r.barcodes])
    prices = _set_prices(session, rows, ids)
    if is_postgresql(session) and len(new) > 1000:
        # Fresh statistics for the grown tables, or the next lookups by SKU plan a scan.
        session.execute(sql("ANALYZE products, product_barcodes, prices"))
    record_changes(session, "product", [
        (ids[r.sku], product_doc(_doc_view(r, ids[r.sku]), sorted(r.barcodes)), None, None)
        for r in rows])
    record_changes(session, "price", [(p["id"], price_doc(Record(p)), None, None)
                                      for p in prices])
    report.created, report.updated, report.written = len(new), len(old), bool(rows)
    audit.record(session, "masterdata_import", f"products: {len(new)} new, {len(old)} changed",
                 reason=f"{report.skipped} rows skipped" if report.skipped else "",
                 actor_id=actor_id)
    session.flush()
    return report


def _check_against_central(session: Session, rows: list[Row], report: Report) -> list[Row]:
    """A SKU or barcode twice in the file, a barcode another product holds at central, or a
    VAT rate that is not one of the chain's."""
    seen_skus: dict[str, int] = {}
    seen_codes: dict[str, int] = {}
    good = []
    owners = dict(session.execute(select(ProductBarcode.barcode, Product.sku).join(
        Product, Product.id == ProductBarcode.product_id)).all())
    rates = set(session.scalars(select(VatRate.rate_bp).where(VatRate.active)))
    for row in rows:
        problem = None
        if row.vat_rate_bp not in rates:
            problem = ("vat_rate_bp", "not one of the chain's VAT rates: "
                       + ", ".join(str(r) for r in sorted(rates)))
        elif row.sku in seen_skus:
            problem = ("sku", f"also on line {seen_skus[row.sku]}")
        for code in row.barcodes:
            if problem is None and code in seen_codes:
                problem = ("barcodes", f"{code} also on line {seen_codes[code]}")
            elif problem is None and owners.get(code, row.sku) != row.sku:
                problem = ("barcodes", f"{code} belongs to product {owners[code]}")
        if problem is not None:
            report.error(row.line, row.sku, *problem)
            report.skipped += 1
            continue
        seen_skus[row.sku] = row.line
        seen_codes.update((code, row.line) for code in row.barcodes)
        good.append(row)
    return good


def _known_skus(session: Session, skus: list[str]) -> dict[str, int]:
    known: dict[str, int] = {}
    for start in range(0, len(skus), CHUNK):
        known.update(session.execute(select(Product.sku, Product.id).where(
            Product.sku.in_(skus[start:start + CHUNK]))).all())
    return known


def _product_values(r: Row) -> dict:
    return {"sku": r.sku, "name": r.name, "vat_rate_bp": r.vat_rate_bp, "unit": r.unit,
            "category": r.category, "active": r.active}


def _insert_products(session: Session, rows: list[Row]) -> dict[str, int]:
    """New products, written in bulk; their ids by SKU."""
    if not rows:
        return {}
    if is_postgresql(session):
        ids = next_ids(session, table(Product), len(rows))
        copy_rows(session, table(Product), [{"id": pid, **_product_values(r)}
                                            for pid, r in zip(ids, rows, strict=True)])
        return {r.sku: pid for pid, r in zip(ids, rows, strict=True)}
    made: dict[str, int] = {}
    for start in range(0, len(rows), CHUNK):
        made.update((sku, pid) for pid, sku in session.execute(
            insert(Product).returning(Product.id, Product.sku, sort_by_parameter_order=True),
            [_product_values(r) for r in rows[start:start + CHUNK]]))
    return made


def _set_prices(session: Session, rows: list[Row], ids: dict[str, int]) -> list[dict]:
    """The chain-wide standing price of each row's product (no region or store, no scheduled
    start), updated or created; returns the rows."""
    product_ids = [ids[r.sku] for r in rows]
    existing: dict[int, int] = {}
    for start in range(0, len(product_ids), CHUNK):
        existing.update(session.execute(select(Price.product_id, Price.id).where(
            *CHAIN_STANDING, Price.product_id.in_(
                product_ids[start:start + CHUNK]))).all())
    changed, new = [], []
    for r in rows:
        pid = ids[r.sku]
        row = {"product_id": pid, "store_id": None, "region_id": None, "effective_from": None,
               "amount_minor": r.price_minor}
        if pid in existing:
            changed.append({"id": existing[pid], **row})
        else:
            new.append(row)
    update_rows(session, table(Price), "id", changed, ("amount_minor",))
    new = insert_rows(session, table(Price), new, CHUNK)
    if session.scalar(select(Price.id).where(Price.effective_from.is_not(None),
                                             Price.store_id.is_(None),
                                             Price.region_id.is_(None)).limit(1)):
        for start in range(0, len(product_ids), CHUNK):  # "from now on", as one at a time
            drop_started(session, product_ids[start:start + CHUNK], None, None)
    return changed + new


class Record:
    def __init__(self, values: dict):
        self.__dict__.update(values)


def _doc_view(r: Row, pid: int) -> Record:
    return Record({"id": pid, **_product_values(r)})


def export_products(session: Session) -> str:
    """Every product with its barcodes and chain-wide price, in the import's columns."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    codes: dict[int, list[str]] = {}
    for code, pid in session.execute(select(ProductBarcode.barcode, ProductBarcode.product_id)
                                     .order_by(ProductBarcode.barcode)):
        codes.setdefault(pid, []).append(code)
    prices = dict(session.execute(select(Price.product_id, Price.amount_minor).where(
        *CHAIN_STANDING)).all())
    for p in session.execute(select(Product.id, Product.sku, Product.name, Product.vat_rate_bp,
                                    Product.unit, Product.category, Product.active)
                             .order_by(Product.sku)):
        amount = prices.get(p.id)
        writer.writerow([cell(p.sku), cell(p.name), p.vat_rate_bp, p.unit, cell(p.category),
                         "|".join(codes.get(p.id, [])),
                         "" if amount is None else f"{amount / 100:.2f}", int(p.active)])
    return out.getvalue()

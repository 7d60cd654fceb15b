"""Central's side of the push: apply a node's events exactly once and in seq order.

One batch is one transaction. The node row is locked first, so two pushes from the same node
(a retry racing the original) run one after the other. Events at or below the high-water mark
are already held and are skipped after checking they are the same events; the next new event
must be exactly high-water + 1, else the batch is refused with ``seq_gap`` and the node resends
from there. ``received_events`` keeps ``(node_id, seq)`` forever, as a second wall.

An event central cannot apply (a payload that does not load, a reference to master data central
does not know, a fact it already holds under another event) does not block the node's queue:
it is quarantined with its reason (``quarantined_events``), its seq still counts as received,
and the events after it go on, except those that depend on it (a post-void of a quarantined
sale, the close of a quarantined shift), which are held beside it. An operator repairs and
replays them (``kassa.central.replication.quarantine``). A sale that arrives for a shift central
already has closed, or for a business day closed at central, is recorded with its own time and a
``late_reason`` for the reconciliation report.
"""

from __future__ import annotations

from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Table, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, load_only

from kassa.central.crm import customer_receipts, interactions, tasks
from kassa.central.membership import loyalty_accounts, till_members
from kassa.central.models import (
    AuditEntry,
    BusinessDay,
    Customer,
    FraudAlert,
    LoyaltyAccount,
    Node,
    OfferExposure,
    Payment,
    Product,
    QuarantinedEvent,
    ReceivedEvent,
    Refund,
    Return,
    ReturnLine,
    Sale,
    SaleLine,
    Shift,
    Store,
    User,
)
from kassa.central.replication import points_claims
from kassa.central.replication.feed import customer_scope, record_change
from kassa.central.replication.feed_documents import customer_doc
from kassa.common.db import rowcount, table, utcnow, zone_info
from kassa.common.errors import Conflict, Invalid, KassaError
from kassa.common.storage.bulk import copy_rows
from kassa.sync import payloads


class SeqGap(KassaError):
    status = 409
    code = "seq_gap"


class RowBuffer:
    """Rows to insert, per table, written with one multi-row INSERT each; a handler that must
    update a row written earlier in the batch calls ``flush`` first."""

    def __init__(self) -> None:
        self.rows: dict[Table, list[dict]] = defaultdict(list)
        self.points: list[tuple] = []  # (account id, LedgerEntry), posted after the rows

    def add(self, table: Table, row: dict) -> None:
        self.rows[table].append(row)

    def post(self, account_id, entries) -> None:
        self.points.extend((account_id, e) for e in entries)

    def flush(self, session: Session) -> None:
        # Parents first: dict order is the order handlers first added each table.
        copy = session.get_bind().dialect.name == "postgresql"
        for target, rows in self.rows.items():
            if copy and target.name in _COPY_TABLES and _same_columns(rows):
                copy_rows(session, target, rows)
            else:
                session.execute(insert(target), rows)
        self.rows.clear()
        if self.points:
            postings, self.points = self.points, []
            with _as_invalid():
                loyalty_accounts.post_batch(session, postings)

    def clear(self) -> None:
        self.rows.clear()
        self.points.clear()


# The tables a batch of sales fills, written on PostgreSQL with COPY in the batch's transaction
# (its executemany sends one INSERT per row: ingest ran at a quarter of raw COPY's rate).
_COPY_TABLES = {"received_events", "sales", "sale_lines", "payments", "returns",
                "return_lines", "refunds", "offer_exposures"}


def _same_columns(rows: list[dict]) -> bool:
    first = rows[0].keys()
    return all(row.keys() == first for row in rows)


def _store_day(sale: dict, zones: dict[int, str]) -> date:
    """The day a sale was made on its store's wall clock: the business day it belongs to."""
    return sale["sold_at"].astimezone(zone_info(zones.get(sale["store_id"]))).date()


@dataclass
class Known:
    """Which of the ids a batch mentions central knows: one query per kind of id."""

    products: set[int] = field(default_factory=set)
    users: set[int] = field(default_factory=set)
    closed_shifts: set = field(default_factory=set)
    closed_days: set[tuple[int, date]] = field(default_factory=set)
    accounts: set = field(default_factory=set)
    exposures: set = field(default_factory=set)  # offer exposures central already holds
    customer_sales: set = field(default_factory=set)  # the batch's sales to customers
    # The batch's sales whose receipt may go by e-mail (a customer, or an address given).
    receipt_mails: set = field(default_factory=set)
    zones: dict[int, str] = field(default_factory=dict)  # the batch's stores' time zones
    tiers: dict = field(default_factory=dict)  # the batch's accounts' tiers at central
    categories: dict[int, str | None] = field(default_factory=dict)  # the batch's products'
    claims: points_claims.PointsClaims | None = None  # made by the first event with points

    def points(self, session: Session, node: Node) -> points_claims.PointsClaims:
        if self.claims is None:
            self.claims = points_claims.PointsClaims(session, node)
        return self.claims

    @classmethod
    def load(cls, session: Session, payloads: list[dict]) -> "Known":
        products = {ln["product_id"] for p in payloads
                    if isinstance(p.get("lines"), list) for ln in p["lines"]}
        users = {p[k] for p in payloads for k in ("cashier_id", "manager_id", "user_id",
                                                   "closed_by") if p.get(k) is not None}
        sales = [p for p in payloads if "sold_at" in p and "receipt_no" in p]
        shifts = {p["shift_id"] for p in sales if p.get("shift_id")}
        stores = {p["store_id"] for p in sales}
        zones = dict(session.execute(select(Store.id, Store.timezone).where(
            Store.id.in_(stores))).all()) if stores else {}
        days = {_store_day(p, zones) for p in sales}
        accounts = {a for a in map(_account_of, payloads) if a is not None}
        exposures = {p["exposure_id"] for p in payloads if "exposure_id" in p}
        categories = dict(session.execute(select(Product.id, Product.category).where(
            Product.id.in_(products))).all()) if products else {}
        tiers = dict(session.execute(select(LoyaltyAccount.id, LoyaltyAccount.tier).where(
            LoyaltyAccount.id.in_(accounts))).all()) if accounts else {}
        return cls(
            set(categories),
            set(session.scalars(select(User.id).where(User.id.in_(users)))) if users else set(),
            set(session.scalars(select(Shift.id).where(Shift.id.in_(shifts),
                                                       Shift.closed_at.is_not(None))))
            if shifts else set(),
            {(r.store_id, r.day) for r in session.execute(
                select(BusinessDay.store_id, BusinessDay.day).where(BusinessDay.day.in_(days)))}
            if days else set(),
            set(tiers),
            set(session.scalars(select(OfferExposure.id).where(
                OfferExposure.id.in_(exposures)))) if exposures else set(), zones=zones,
            tiers=tiers, categories=categories)

    def late_reason(self, sale: dict) -> str | None:
        if sale.get("shift_id") in self.closed_shifts:
            return "shift_closed"
        if (sale["store_id"], _store_day(sale, self.zones)) in self.closed_days:
            return "day_closed"
        return None

    def check(self, what: str, payload: dict, *, makes_account: bool = False) -> None:
        """``unknown_reference`` for a product, user or loyalty account central does not
        hold (``makes_account``: the event opens the account it names)."""
        lines = payload.get("lines")
        missing_products = ({ln["product_id"] for ln in lines} - self.products
                            if isinstance(lines, list) else set())
        missing_users = {payload[k] for k in ("cashier_id", "manager_id", "user_id", "closed_by")
                         if payload.get(k) is not None} - self.users
        if missing_products or missing_users:
            raise Invalid(f"{what} refers to unknown products {sorted(missing_products)} or "
                          f"users {sorted(missing_users)}.", code="unknown_reference")
        account = _account_of(payload)
        if account is not None and account not in self.accounts and not makes_account:
            raise Invalid(f"{what} refers to unknown loyalty account {account}.",
                          code="unknown_reference")


def _account_of(payload: dict):
    loyalty = payload.get("loyalty")
    return loyalty["account_id"] if isinstance(loyalty, dict) else payload.get("account_id")


def apply_batch(session: Session, node_id: str, events: list[dict]) -> tuple[int, int]:
    """Returns ``(high_water, applied)``; refuses (and rolls back) only for seq errors.

    Events that cannot be applied are quarantined and counted as received. The batch is first
    written in one go; if the database then refuses a row (a fact held under another event),
    the batch is written again event by event, each in a savepoint, to find and quarantine the
    one at fault.
    """
    # What applying reads of the node, locked: the whole row is 26 columns (node status).
    node = session.get(Node, node_id, with_for_update=True,
                       options=[load_only(Node.id, Node.store_id, Node.high_water,
                                          raiseload=True)])
    assert node is not None  # the request was signed by this node (auth.node_signed)
    fresh = _fresh_events(session, node, events)
    if fresh:
        try:
            with session.begin_nested():
                _apply_events(session, node, fresh, one_by_one=False)
        except (IntegrityError, Invalid, *BUG_ERRORS):
            try:
                _apply_events(session, node, fresh, one_by_one=True)
            except IntegrityError as err:  # an event id reused under another seq
                raise Conflict("The batch repeats an event central holds under another seq.",
                               code="duplicate_fact") from err
        node.high_water = fresh[-1]["seq"]
    node.last_seen_at = utcnow()
    return node.high_water, len(fresh)


def _fresh_events(session: Session, node: Node, events: list[dict]) -> list[dict]:
    high_water = node.high_water
    fresh = []
    for event in sorted(events, key=lambda e: e["seq"]):
        seq = event["seq"]
        if seq <= high_water:
            _check_same_as_held(session, node.id, event)
            continue
        if seq != high_water + 1:
            raise SeqGap(f"Central holds events up to {high_water}; got {seq}.",
                         details={"high_water": high_water, "expected": high_water + 1})
        fresh.append(event)
        high_water = seq
    return fresh


def _apply_events(session: Session, node: Node, fresh: list[dict], one_by_one: bool) -> None:
    held = HeldRefs.load(session, node.id)
    loaded: list[tuple[dict, dict | None, Invalid | None]] = []
    for event in fresh:
        try:
            loaded.append((event, _load_payload(event), None))
        except Invalid as err:
            loaded.append((event, None, err))
    known = Known.load(session, [p for _e, p, _err in loaded if p is not None])
    buffer = RowBuffer()
    for event, payload, error in loaded:
        buffer.add(table(ReceivedEvent), {
            "node_id": node.id, "seq": event["seq"], "event_id": event["event_id"],
            "kind": event["kind"], "occurred_at": event["occurred_at"], "received_at": utcnow()})
        if error is None:
            assert payload is not None  # no error: _load_payload returned it
            blocker = held.blocker(event["kind"], payload)
            if blocker is not None:
                error = Invalid(f"Depends on event {blocker}, which is quarantined.",
                                code="depends_on_quarantined", details={"seq": blocker})
        if error is None and not one_by_one:
            error = _try_apply(session, node, event, payload, known, buffer)
        elif error is None:
            error = _apply_alone(session, node, event, payload, known, buffer)
        if error is not None:
            held.add(event, payload)
            buffer.add(table(QuarantinedEvent), _quarantine_row(node.id, event, error))
    buffer.flush(session)
    if known.customer_sales:  # a lead who bought (a sale that got in) is a customer
        session.execute(update(Customer).where(
            Customer.status == "lead", Customer.id.in_(
                select(Sale.customer_id).where(Sale.id.in_(known.customer_sales))))
            .values(status="customer"))
    if known.receipt_mails:
        customer_receipts.mail_receipts(session, known.receipt_mails)


def _apply_alone(session, node, event, payload, known, buffer) -> Invalid | None:
    """``_try_apply`` in a savepoint of its own, its rows written at once: what the database
    or the ledger refuses, or a bug, quarantines this event alone (the batch's second pass)."""
    buffer.flush(session)
    try:
        with session.begin_nested():
            error = _try_apply(session, node, event, payload, known, buffer)
            if error is None:
                buffer.flush(session)
            return error
    except IntegrityError:
        buffer.clear()
        return Invalid(f"Event {event['seq']} repeats a fact central already holds "
                       f"under another event.", code="duplicate_fact")
    except Invalid as err:  # the ledger refused the event's points
        buffer.clear()
        return err
    except BUG_ERRORS as err:
        buffer.clear()
        return Invalid(f"Event {event['seq']} could not be applied: "
                       f"{err.__class__.__name__}: {err}", code="apply_failed")


def _try_apply(session, node, event, payload, known, buffer) -> Invalid | None:
    """Run the event's handler; an ``Invalid`` it raises is the reason to quarantine it."""
    try:
        known.check(f"Event {event['seq']} ({event['kind']})", payload,
                    makes_account=event["kind"] == "customer.registered")
        HANDLERS[event["kind"]](session, node, payload, buffer, known)
    except Invalid as err:
        return err
    return None


def _quarantine_row(node_id: str, event: dict, error: Invalid) -> dict:
    return {"node_id": node_id, "seq": event["seq"], "event_id": event["event_id"],
            "kind": event["kind"], "occurred_at": event["occurred_at"],
            "payload": event["payload"], "refs": _refs(event["kind"], event["payload"]),
            "reason": error.code, "message": str(error)[:2000],
            "depends_on_seq": (error.details or {}).get("seq")
            if error.code == "depends_on_quarantined" else None,
            "status": "held", "quarantined_at": utcnow(), "attempts": 0}


# A handler failing with one of these is a bug in it (or an event it does not expect): the event
# is quarantined with the error, not the node's whole queue stopped. Database errors are not
# in this list: a full disk fails the batch, and the node sends it again later.
BUG_ERRORS = (KeyError, TypeError, ValueError, AttributeError, LookupError, AssertionError)

# What an event creates (its own ids) and what it needs to exist before it (other events' ids).
_CREATES = {"sale.completed": ("sale_id",), "shift.opened": ("shift_id",),
            "return.completed": ("return_id",), "customer.registered": ("customer_id",)}
_NEEDS = {"sale.post_voided": ("sale_id",), "return.completed": ("original_sale_id",),
          "shift.closed": ("shift_id",), "cash.moved": ("shift_id",),
          "offer.shown": ("sale_id",), "sale.completed": ("customer_id",),
          "customer.updated": ("customer_id",)}


def _refs(kind: str, payload) -> list[str]:
    if not isinstance(payload, dict):
        return []
    return [str(payload[k]) for k in _CREATES.get(kind, ()) if payload.get(k) is not None]


class HeldRefs:
    """Ids created by this node's quarantined events that are still held, by their seq."""

    def __init__(self, refs: dict[str, int]):
        self.refs = refs

    @classmethod
    def load(cls, session: Session, node_id: str) -> "HeldRefs":
        rows = session.execute(select(QuarantinedEvent.seq, QuarantinedEvent.refs).where(
            QuarantinedEvent.node_id == node_id, QuarantinedEvent.status == "held"))
        return cls({ref: seq for seq, refs in rows for ref in refs or ()})

    def add(self, event: dict, payload: dict | None) -> None:
        for ref in _refs(event["kind"], event["payload"]):
            self.refs[ref] = event["seq"]

    def blocker(self, kind: str, payload: dict) -> int | None:
        for key in _NEEDS.get(kind, ()):
            if payload.get(key) is not None and str(payload[key]) in self.refs:
                return self.refs[str(payload[key])]
        return None


def _check_same_as_held(session: Session, node_id: str, event: dict) -> None:
    held = session.get(ReceivedEvent, (node_id, event["seq"]))
    if held is not None and held.event_id != event["event_id"]:
        raise Conflict(f"Event {event['seq']} differs from the one central already holds.",
                       code="seq_conflict", details={"seq": event["seq"]})


def _load_payload(event: dict) -> dict:
    if event["kind"] not in payloads.EVENT_PAYLOADS or event["kind"] not in HANDLERS:
        raise Invalid(f"Event {event['seq']}: unknown kind {event['kind']!r}.",
                      code="unknown_event_kind", details={"seq": event["seq"]})
    try:
        return payloads.load(event["kind"], event["payload"])
    except payloads.PayloadError as err:
        raise Invalid(f"Event {event['seq']}: payload does not match its kind: {err}",
                      code="bad_event", details={"seq": event["seq"], "fields": str(err)}) \
            from err


def _sale_completed(session: Session, node: Node, p: dict, buffer: RowBuffer,
                known: Known) -> None:
    if p["store_id"] != node.store_id:
        raise Invalid(f"Sale {p['receipt_no']} names store {p['store_id']}, "
                      f"but node {node.id} belongs to store {node.store_id}.", code="bad_event")
    use = p["loyalty"]
    if use is not None:  # the points as central posts them (decision 59)
        claims = known.points(session, node)
        claims.alerts.clear()  # an event before this one that failed half-way raises none
        earned = claims.earned(p, known.tiers.get(use["account_id"]), known.categories)
        p = {**p, "lines": [{**ln, "points_earned": earned[ln["line_no"]]}
                            for ln in p["lines"]]}
        if use["burned"] and not claims.hold_stands(p):
            use = {**use, "burned": claims.offline_burn(p), "hold_id": None}
            p = {**p, "loyalty": use}
    buffer.add(table(Sale), {
        "id": p["sale_id"], "receipt_no": p["receipt_no"], "node_id": node.id,
        "store_id": p["store_id"], "customer_id": p["customer_id"], "sold_at": p["sold_at"],
        "received_at": utcnow(), "status": "completed", "shift_id": p["shift_id"],
        "late_reason": known.late_reason(p),
        "cashier_id": p["cashier_id"], "gross_minor": p["gross_minor"] or p["total_minor"],
        "discount_minor": p["discount_minor"], "total_minor": p["total_minor"],
        "vat_minor": p["vat_minor"], "account_id": (use or {}).get("account_id"),
        "points_burned": (use or {}).get("burned", 0),
        "points_hold_id": (use or {}).get("hold_id"),
        "authorization_id": p["authorization_id"], "receipt_email": p["receipt_email"],
        **_fiscal_columns(p)})
    if p["customer_id"] is not None or p["receipt_email"]:
        known.receipt_mails.add(p["sale_id"])
    for ln in p["lines"]:
        buffer.add(table(SaleLine), {**ln, "sale_id": p["sale_id"],
                                     "gross_minor": ln["gross_minor"] or ln["amount_minor"]})
    for pay in p["payments"]:
        buffer.add(table(Payment), {**pay, "sale_id": p["sale_id"]})
    if p["loyalty"] is not None:
        _sale_points(session, node, p, buffer)
        _raise_alerts(known.points(session, node), buffer)
    if p["customer_id"] is not None:
        known.customer_sales.add(p["sale_id"])


def _raise_alerts(claims: points_claims.PointsClaims, buffer: RowBuffer) -> None:
    for alert, line in claims.alerts:
        buffer.add(table(FraudAlert), alert)
        buffer.add(table(AuditEntry), line)
    claims.alerts.clear()


def _fiscal_columns(p: dict) -> dict:
    """A sale's or return's fiscal receipt as central stores it (all None: not fiscalised)."""
    f = p.get("fiscal") or {}
    return {"fiscal_document_number": f.get("document_number"),
            "fiscal_sign": f.get("fiscal_sign"), "fiscal_drive_number": f.get("drive_number")}


def _sale_points(session: Session, node: Node, p: dict, buffer: RowBuffer) -> None:
    """What the sale earned, line by line, and the points that paid part of it."""
    use = p["loyalty"]
    earned = {ln["line_no"]: ln["points_earned"] for ln in p["lines"]}
    buffer.post(use["account_id"],
                loyalty_accounts.earned_entries(session, p["sale_id"], earned, p["sold_at"]))
    with _as_invalid():
        if use["burned"]:
            loyalty_accounts.burn_for_sale(session, use["account_id"], p["sale_id"], use["burned"],
                                           use["hold_id"], node.id, p["sold_at"])


@contextmanager
def _as_invalid():
    """A refusal of the ledger's (a cause posted with other points) quarantines the event."""
    try:
        yield
    except KassaError as err:
        if isinstance(err, Invalid):
            raise
        raise Invalid(str(err), code=err.code, details=err.details) from err


def _sale_voided(session: Session, node: Node, p: dict, buffer: RowBuffer,
                known: Known) -> None:
    buffer.add(table(AuditEntry), {
        "at": p["at"], "node_id": node.id, "action": "void", "actor_id": p["cashier_id"],
        "on_behalf_of_id": None, "reference_id": p["sale_id"], "reason": p["reason"][:200],
        "subject": f"open sale, {p['line_count']} lines, {p['total_minor'] / 100:.2f}"})


def _sale_post_voided(session: Session, node: Node, p: dict, buffer: RowBuffer,
                known: Known) -> None:
    buffer.flush(session)
    done = rowcount(session.execute(
        update(Sale).where(Sale.id == p["sale_id"], Sale.node_id == node.id)
        .values(status="post_voided")))
    if not done:
        raise Invalid(f"Post-void of unknown sale {p['receipt_no']}.", code="unknown_reference")
    sale = session.get(Sale, p["sale_id"])
    assert sale is not None  # the UPDATE above just found it
    if sale.account_id is not None:
        buffer.post(sale.account_id, loyalty_accounts.void_entries(session, sale, p["at"]))


def _return_completed(session: Session, node: Node, p: dict, buffer: RowBuffer,
                known: Known) -> None:
    if p["account_id"] is not None:  # the points as central posts them (decision 59)
        buffer.flush(session)  # the sale and earlier returns, if in this batch
        claims = known.points(session, node)
        claims.alerts.clear()  # an event before this one that failed half-way raises none
        account, reversed_by_line, refunded = claims.returned(p)
        p = {**p, "account_id": account, "points_refunded": refunded,
             "lines": [{**ln, "points_reversed": reversed_by_line[ln["line_no"]]}
                       for ln in p["lines"]]}
    buffer.add(table(Return), {
        "id": p["return_id"], "return_no": p["return_no"], "node_id": node.id,
        "store_id": node.store_id, "original_sale_id": p["original_sale_id"],
        "original_receipt_no": p["original_receipt_no"], "shift_id": p["shift_id"],
        "cashier_id": p["cashier_id"], "override_id": p["override_id"], "reason": p["reason"],
        "returned_at": p["returned_at"], "total_minor": p["total_minor"],
        "vat_minor": p["vat_minor"], "points_refunded": p["points_refunded"],
        "authorization_id": p["authorization_id"], **_fiscal_columns(p)})
    for ln in p["lines"]:
        buffer.add(table(ReturnLine), {**ln, "return_id": p["return_id"]})
    for r in p["refunds"]:
        buffer.add(table(Refund), {**r, "return_id": p["return_id"]})
    if p["account_id"] is not None:
        reversed_by_line = {ln["line_no"]: ln["points_reversed"] for ln in p["lines"]}
        buffer.post(p["account_id"], loyalty_accounts.return_entries(
            session, p["return_id"], reversed_by_line, p["points_refunded"], p["returned_at"]))
        _raise_alerts(known.points(session, node), buffer)


def _shift_opened(session: Session, node: Node, p: dict, buffer: RowBuffer,
                known: Known) -> None:
    buffer.add(table(Shift), {
        "id": p["shift_id"], "node_id": node.id, "number": p["number"],
        "cashier_id": p["cashier_id"], "opened_at": p["opened_at"], "closed_at": None,
        "opening_float_minor": p["opening_float_minor"], "expected_cash_minor": None,
        "counted_cash_minor": None, "cash_in_minor": 0, "cash_out_minor": 0})


def _shift_update(session: Session, node: Node, shift_id, values: dict, buffer: RowBuffer):
    buffer.flush(session)
    done = rowcount(session.execute(
        update(Shift).where(Shift.id == shift_id, Shift.node_id == node.id).values(**values)))
    if not done:
        raise Invalid(f"Unknown shift {shift_id}.", code="unknown_reference")


def _shift_closed(session: Session, node: Node, p: dict, buffer: RowBuffer,
                known: Known) -> None:
    _shift_update(session, node, p["shift_id"], {
        "closed_at": p["closed_at"], "expected_cash_minor": p["expected_cash_minor"],
        "counted_cash_minor": p["counted_cash_minor"], "cash_in_minor": p["cash_in_minor"],
        "cash_out_minor": p["cash_out_minor"]}, buffer)


def _cash_moved(session: Session, node: Node, p: dict, buffer: RowBuffer,
                known: Known) -> None:
    column = Shift.cash_in_minor if p["kind"] == "in" else Shift.cash_out_minor
    _shift_update(session, node, p["shift_id"], {column.key: column + p["amount_minor"]}, buffer)


def _override_granted(session: Session, node: Node, p: dict, buffer: RowBuffer,
                known: Known) -> None:
    buffer.add(table(AuditEntry), {
        "at": p["at"], "node_id": node.id, "action": f"override:{p['action']}"[:32],
        "actor_id": p["manager_id"], "on_behalf_of_id": p["cashier_id"],
        "reference_id": p["override_id"], "subject": p["subject"][:200],
        "reason": p["reason"][:200]})


def _customer_updated(session: Session, node: Node, p: dict, buffer: RowBuffer,
                      known: Known) -> None:
    """Field by field: the node's new value lands where central still has the value the node
    started from; where central changed the field meanwhile, central's value stays and the
    conflict is written to the audit log. Either way the feed then carries central's record."""
    customer = session.get(Customer, p["customer_id"], with_for_update=True)
    if customer is None:
        raise Invalid(f"Update of unknown customer {p['customer_id']}.",
                      code="unknown_reference")
    buffer.flush(session)
    for name, change in sorted(p["changes"].items()):
        current = getattr(customer, name)
        if current == change["was"] and (change["now"] or name != "name"):
            setattr(customer, name, change["now"])
        elif current != change["now"]:
            session.add(AuditEntry(
                at=p["at"], node_id=node.id, action="sync_conflict", actor_id=p["user_id"],
                on_behalf_of_id=None, reference_id=None,
                subject=f"customer {customer.id} {name}"[:200],
                reason=f"central kept {current!r}; node set {change['was']!r} -> "
                       f"{change['now']!r}"[:200]))
    session.flush()
    record_change(session, "customer", customer.id, customer_doc(customer),
                  **customer_scope(session, customer))


def _customer_registered(session: Session, node: Node, p: dict, buffer: RowBuffer,
                         known: Known) -> None:
    """A member a till signed up (``membership.till_members``): their account is known from
    here on, to the sales after it in the batch."""
    buffer.flush(session)
    till_members.register(session, node, p)
    known.accounts.add(p["account_id"])


def _complaint_logged(session: Session, node: Node, p: dict, buffer: RowBuffer,
                      known: Known) -> None:
    """On the customer's timeline (when the till knew who it was) and a task for the store,
    by the complaint rule."""
    buffer.flush(session)
    customer = session.get(Customer, p["customer_id"]) if p.get("customer_id") else None
    if customer is not None:
        interactions.record_interaction(session, customer, channel="complaint", direction="in",
                                        subject="Complaint at the till", body=p["text"], at=p["at"],
                                        store_id=node.store_id, user_id=p.get("user_id"),
                                        external_id=f"complaint:{p['complaint_id']}")
    tasks.open_task(session, "complaint", customer=customer, store_id=node.store_id,
                    note=p["text"], now=p["at"])


def _offer_shown(session: Session, node: Node, p: dict, buffer: RowBuffer,
                 known: Known) -> None:
    """An offer exposure, once by its id (a replayed or repeated event adds nothing)."""
    if p["exposure_id"] in known.exposures:
        return
    known.exposures.add(p["exposure_id"])
    buffer.add(table(OfferExposure), {
        "id": p["exposure_id"], "offer_id": p["offer_id"], "customer_id": p["customer_id"],
        "node_id": node.id, "store_id": node.store_id, "held_out": p["held_out"], "at": p["at"],
        "sale_id": p["sale_id"], "accepted": p["accepted"]})


HANDLERS = {
    "offer.shown": _offer_shown,
    "customer.updated": _customer_updated,
    "customer.registered": _customer_registered,
    "sale.completed": _sale_completed,
    "sale.voided": _sale_voided,
    "sale.post_voided": _sale_post_voided,
    "return.completed": _return_completed,
    "shift.opened": _shift_opened,
    "shift.closed": _shift_closed,
    "cash.moved": _cash_moved,
    "override.granted": _override_granted,
    "complaint.logged": _complaint_logged,
}

"""Customers' data rights and one person, one record: everything kept about a customer for their
access request, anonymizing them while their purchases stay, and finding and merging records
that are one person (the merged record points at the one kept).
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from kassa.central.access import audit
from kassa.central.crm.profiles import Reach, name_key, profile, publish_customer, reachable
from kassa.central.membership import cards, loyalty_accounts, personal_offers
from kassa.central.models import (
    Card,
    Consent,
    Customer,
    CustomerDocument,
    HistoricTransaction,
    Interaction,
    LoyaltyAccount,
    LoyaltyEntry,
    OfferExposure,
    RedemptionHold,
    Sale,
    SaleLine,
    Task,
    TaskComment,
    User,
)
from kassa.central.replication.feed import customer_scope, record_change
from kassa.common.db import table, utcnow
from kassa.common.errors import Conflict, Invalid


def data_access(session: Session, actor: User, customer_id: uuid.UUID) -> dict:
    """``export_all`` for the customer the actor reaches; the export is in the audit log."""
    customer = reachable(session, Reach.of(actor), customer_id)
    data = export_all(session, customer)
    audit.record(session, "customer_exported", f"customer {customer.id}", actor_id=actor.id)
    return data


def export_all(session: Session, customer: Customer) -> dict:
    """Everything kassa holds about one customer, for their data-access request: the 360 view
    with every purchase (with its lines), return, ledger entry, consent change and contact."""
    view = profile(session, customer)
    view.pop("likely_duplicate")  # another person's record: not theirs to receive
    sale_ids = list(session.scalars(select(Sale.id).where(Sale.customer_id == customer.id)))
    lines: dict = {}
    for line in session.scalars(select(SaleLine).where(SaleLine.sale_id.in_(sale_ids))
                                .order_by(SaleLine.sale_id, SaleLine.line_no)):
        lines.setdefault(line.sale_id, []).append(
            {"sku": line.sku, "name": line.name, "quantity_milli": line.quantity_milli,
             "amount_minor": line.amount_minor, "points_earned": line.points_earned})
    sales = session.execute(select(Sale.id, Sale.receipt_no, Sale.sold_at, Sale.total_minor,
                                   Sale.status).where(Sale.id.in_(sale_ids))
                            .order_by(Sale.sold_at)).all()
    account = session.scalars(select(LoyaltyAccount).where(
        LoyaltyAccount.customer_id == customer.id)).first()
    entries = list(session.scalars(select(LoyaltyEntry).where(
        LoyaltyEntry.account_id == account.id).order_by(LoyaltyEntry.at))) if account else []
    contacts = list(session.scalars(select(Interaction).where(
        Interaction.customer_id == customer.id).order_by(Interaction.at)))
    return {**view,
            "purchases": {**view["purchases"], "all": [
                {"receipt_no": s.receipt_no, "sold_at": s.sold_at, "total_minor": s.total_minor,
                 "status": s.status, "lines": lines.get(s.id, [])} for s in sales]},
            "loyalty_entries": [{"at": e.at, "kind": e.kind, "points": e.points,
                                 "cause": e.cause, "expires_at": e.expires_at}
                                for e in entries],
            "interactions": [{"at": i.at, "channel": i.channel, "direction": i.direction,
                              "subject": i.subject, "body": i.body} for i in contacts]}


ANONYMOUS = "(anonymized)"


def anonymize(session: Session, customer: Customer, reason: str, user: User) -> Customer:
    """Erase who the customer is while keeping what they bought: name, phone, e-mail,
    birthday, lead source and the text of their contacts go; sales, returns and points stay
    (on the same anonymous record), so totals and reports do not change. Their cards are
    blocked; the tills get the anonymous record at their next pull."""
    if customer.anonymized_at is not None:
        return customer
    # Records merged into this one are the same person: erased with it.
    for twin in session.scalars(select(Customer).where(Customer.merged_into_id == customer.id)):
        _erase(session, twin)
    _block_cards(session, customer, "erased", user)
    _erase(session, customer)
    session.flush()
    publish_customer(session, customer)
    personal_offers.publish_profiles(session, [customer.id])  # no personal offers for nobody
    audit.record(session, "customer_anonymized", f"customer {customer.id}", actor_id=user.id,
                 reason=reason)
    return customer


def _erase(session: Session, customer: Customer) -> None:
    """Who they are goes; what they did stays (anonymous)."""
    customer.name, customer.phone, customer.email = ANONYMOUS, None, None
    customer.birthday, customer.lead_source, customer.card_number = None, None, None
    customer.address, customer.block_reason = None, None
    customer.card_has_pin, customer.anonymized_at = False, utcnow()
    session.execute(table(Interaction).update()
                    .where(table(Interaction).c.customer_id == customer.id)
                    .values(subject=ANONYMOUS, body="", source=None))
    their_tasks = select(Task.id).where(Task.customer_id == customer.id)
    session.execute(table(TaskComment).update()
                    .where(table(TaskComment).c.task_id.in_(their_tasks))
                    .values(text=ANONYMOUS))


def _block_cards(session: Session, customer: Customer, reason: str, user: User) -> None:
    """Block every live card of the customer (``erased``, ``merged``): their account's cards,
    and a number from before kassa issued cards (no card row) through the feed alone."""
    account = session.scalars(select(LoyaltyAccount).where(
        LoyaltyAccount.customer_id == customer.id)).first()
    numbers = list(session.scalars(select(Card.card_number).where(
        Card.account_id == account.id, Card.status.in_(("issued", "active"))))) \
        if account else []
    for number in numbers:
        cards.block(session, number, reason, user.id)
    legacy = customer.card_number
    if legacy and legacy not in numbers and session.get(Card, legacy) is None:
        now = utcnow()
        record_change(session, "card_block", legacy, {
            "card_number": legacy, "reason": reason, "blocked_at": now.isoformat()})
        audit.record(session, "card_block", f"card {legacy}", reason=reason,
                     actor_id=user.id, at=now)


def duplicates(session: Session, reach: Reach, limit: int = 100) -> list[dict]:
    """Groups of records that are likely one person: the same phone, the same e-mail, or the
    same name (words in any order) with the same birthday or home store."""
    live = [Customer.merged_into_id.is_(None), Customer.anonymized_at.is_(None)]
    if reach.clause() is not None:
        live.append(reach.clause())
    groups: dict[tuple, set] = {}
    for column, why in ((Customer.phone, "phone"), (Customer.email, "email")):
        shared = (select(column).where(column.is_not(None), *live).group_by(column)
                  .having(func.count() > 1).limit(limit))
        for value, cid in session.execute(select(column, Customer.id).where(
                column.in_(shared), *live)):
            groups.setdefault((why, value), set()).add(cid)
    by_name: dict[tuple, set] = {}
    for cid, name, birthday, store in session.execute(select(
            Customer.id, Customer.name, Customer.birthday, Customer.home_store_id).where(*live)):
        key = name_key(name)
        for other in (birthday, store):
            if other is not None:
                by_name.setdefault((key, other), set()).add(cid)
    groups.update({("name", key): ids for (key, _other), ids in by_name.items()
                   if len(ids) > 1})
    seen, out = set(), []
    for (why, value), ids in sorted(groups.items(), key=lambda g: (g[0][0], str(g[0][1]))):
        members = frozenset(ids)
        if members in seen:
            continue
        seen.add(members)
        rows = session.scalars(select(Customer).where(Customer.id.in_(members))
                               .order_by(Customer.created_at)).all()
        out.append({"reason": why, "value": str(value), "customers": rows})
        if len(out) >= limit:
            break
    return out


def merge(session: Session, keep: Customer, other: Customer, user: User) -> Customer:
    """Make ``other`` part of ``keep``: its purchases, contacts, consents, points and cards
    move over, fields ``keep`` lacks are filled from it, and it stays as a pointer to ``keep``
    (``merged_into_id``), gone from the tills (a tombstone in the feed). Cards of the merged
    record keep working when ``keep`` has none; otherwise they are blocked (``merged``) and the
    customer uses ``keep``'s."""
    if keep.id == other.id:
        raise Invalid("Merge two different customers.", code="bad_merge")
    # Both records and both accounts locked, in id order (two merges of the same pair in
    # opposite directions wait for each other instead of both passing the checks).
    for row in sorted((keep, other), key=lambda c: str(c.id)):
        session.refresh(row, with_for_update=True)
    if other.merged_into_id is not None or keep.merged_into_id is not None \
            or keep.anonymized_at is not None or other.anonymized_at is not None:
        raise Conflict("Merge two live records (neither merged nor anonymized).",
                       code="bad_merge")
    before = {"keep": _brief(keep), "other": _brief(other)}
    for linked in (table(Sale), table(Interaction), table(Consent), table(Task),
                   table(CustomerDocument), table(HistoricTransaction), table(OfferExposure)):
        session.execute(linked.update().where(linked.c.customer_id == other.id)
                        .values(customer_id=keep.id))
    _merge_accounts(session, keep, other, user)
    for field in ("phone", "email", "birthday", "card_number", "home_store_id"):
        if getattr(keep, field) is None and getattr(other, field) is not None:
            value = getattr(other, field)
            setattr(other, field, None)
            session.flush()  # a unique card number moves, it is not copied
            setattr(keep, field, value)
            if field == "card_number":
                keep.card_has_pin = other.card_has_pin
    if keep.status == "lead" and (other.status == "customer"):
        keep.status = "customer"
    other.merged_into_id, other.card_number = keep.id, None
    session.flush()
    publish_customer(session, keep)
    record_change(session, "customer", other.id, None, **customer_scope(session, other))
    # the consents moved with the merge
    personal_offers.publish_profiles(session, [keep.id, other.id])
    audit.record(session, "customer_merged", f"customer {other.id} into {keep.id}",
                 actor_id=user.id, details={**before, "after": _brief(keep)})
    return keep


def _merge_accounts(session: Session, keep: Customer, other: Customer, user: User) -> None:
    """``other``'s loyalty account becomes ``keep``'s, or its entries, cards, holds and balance
    join ``keep``'s (its cards blocked when ``keep`` has a card of its own)."""
    accounts = {a.customer_id: a for a in session.scalars(
        select(LoyaltyAccount).where(LoyaltyAccount.customer_id.in_((keep.id, other.id)))
        .order_by(LoyaltyAccount.id).with_for_update())}
    keep_account, other_account = accounts.get(keep.id), accounts.get(other.id)
    if other_account is None:
        return
    if keep_account is None:
        other_account.customer_id = keep.id
        keep_account = other_account
    else:
        if keep.card_number:
            _block_cards(session, other, "merged", user)
        for linked in (table(LoyaltyEntry), table(Card), table(RedemptionHold)):
            session.execute(linked.update().where(linked.c.account_id == other_account.id)
                            .values(account_id=keep_account.id))
        session.execute(update(LoyaltyAccount).where(
            LoyaltyAccount.id == keep_account.id).values(
            balance=LoyaltyAccount.balance + other_account.balance,
            held=LoyaltyAccount.held + other_account.held))
        session.flush()
        session.execute(table(Sale).update().where(
            table(Sale).c.account_id == other_account.id).values(
            account_id=keep_account.id))
        session.delete(other_account)
        record_change(session, "loyalty_account", other_account.id, None)
    loyalty_accounts.mark_changed(session, keep_account.id)


def _brief(c: Customer) -> dict:
    """For the audit log, which is never erased: ids and states, no personal data."""
    return {"id": str(c.id), "card_number": c.card_number, "status": c.status}

"""Customers at the till: find one by card or phone, and correct their contact details.

The node's customer rows are a replica of central's. A correction made at the till (offline
too) is written to the replica at once, so the till shows it, and goes up as a
``customer.updated`` event carrying, per field, the value the till had and the value it set.
Central decides field by field (``docs/sync-protocol.md``): the till's value lands where central
still had the value the till started from; otherwise central's value stays and the feed brings
it back to the till.
"""

from __future__ import annotations

import uuid

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from kassa.common.db import utcnow
from kassa.common.errors import Invalid, NotFound
from kassa.common.formats.contacts import normal_email, normal_phone
from kassa.pos_node.models import Customer, Sale, User
from kassa.pos_node.replication.outbox import append_event

EDITABLE = ("name", "phone", "email")


def customer_dict(c: Customer) -> dict:
    return {"id": c.id, "name": c.name, "card_number": c.card_number, "phone": c.phone,
            "email": c.email}


def find(session: Session, query: str) -> list[dict]:
    """Exact card number, phone number (as people say it: ``8 900 000-00-01``) or e-mail (a
    till does not browse customers)."""
    query = query.strip()
    matches = [Customer.card_number == query.replace(" ", "").replace("-", "")]
    for normal, column in ((normal_phone, Customer.phone), (normal_email, Customer.email)):
        try:
            value = normal(query)
        except Invalid:
            continue
        if value is not None:
            matches.append(column == value)
    rows = session.scalars(select(Customer).where(or_(*matches)).limit(10))
    return [customer_dict(c) for c in rows]


def update(session: Session, user: User, customer_id: uuid.UUID, fields: dict) -> dict:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound("No such customer at this till.", code="customer_not_found")
    changes = {}
    for name, value in fields.items():
        if name not in EDITABLE:
            raise Invalid("%(field)s cannot be changed at the till.", code="bad_field",
                          field=name)
        value = (value.strip() if isinstance(value, str) else value) or None
        if name == "phone":
            value = normal_phone(value)
        elif name == "email":
            value = normal_email(value)
        if name == "name" and value is None:
            raise Invalid("A customer needs a name.", code="name_required")
        if getattr(customer, name) != value:
            changes[name] = {"was": getattr(customer, name), "now": value}
    if not changes:
        return customer_dict(customer)
    for name, change in changes.items():
        setattr(customer, name, change["now"])
    session.flush()
    append_event(session, "customer.updated", {
        "customer_id": customer.id, "changes": changes, "user_id": user.id, "at": utcnow()})
    return customer_dict(customer)


def log_complaint(session: Session, user, text: str, customer_id: uuid.UUID | None) -> dict:
    """A customer's complaint, for central to open a task for the store manager (works
    offline: it goes up with the next push). The customer: the one given, else the open
    sale's, else nobody."""
    if customer_id is None:
        cart = session.scalars(select(Sale).where(Sale.status == "open")).first()
        customer_id = cart.customer_id if cart is not None else None
    if customer_id is not None and session.get(Customer, customer_id) is None:
        raise NotFound("No such customer.", code="customer_not_found")
    complaint = {"complaint_id": uuid.uuid4(), "text": text.strip(), "at": utcnow(),
                 "customer_id": customer_id, "user_id": user.id}
    append_event(session, "complaint.logged", complaint)
    return complaint

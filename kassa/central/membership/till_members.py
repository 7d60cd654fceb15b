"""Members a till signed up, as central takes them: the ``customer.registered`` event.

A till registers a new member with ids of its own (offline too), the customer and their
loyalty account, and may give them a card from its store's stock. Central applies the event
once (the ingest's exactly-once rule) and is the judge of what it is worth:

- the customer and the account are created under the till's ids, so the sale that follows in
  the same outbox earns points on them; the account goes back down to every till in the feed;
- the stock card becomes the account's card when central still holds it in stock. A card two
  tills gave away while offline stays with the member whose till reached central first; the
  second member keeps their points and gets no card (their till drops it at its next pull) and
  the store a task to give them another;
- a lead with the same phone or e-mail (a web form, an imported contact) becomes this member:
  its contacts and tasks move over;
- a live customer with the same phone or e-mail is never merged automatically: the 360 page of
  both shows the other as a likely duplicate, and the store gets a task to look.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from kassa.central.access import audit
from kassa.central.crm import data_rights, profiles, tasks
from kassa.central.membership import cards, loyalty_accounts
from kassa.central.models import Card, Customer, LoyaltyAccount, Node, User
from kassa.common.errors import Invalid
from kassa.common.formats.contacts import normal_email, normal_phone


def register(session: Session, node: Node, p: dict) -> Customer:
    """The member of event ``p`` from till ``node``; the same customer id again (an event
    replayed from the quarantine after a first apply) changes nothing."""
    existing = session.get(Customer, p["customer_id"])
    if existing is not None:
        return existing
    try:
        phone, email = normal_phone(p["phone"]), normal_email(p["email"])
    except Invalid as err:
        raise Invalid("Registration of %(customer)s: %(reason)s", code="bad_event",
                      customer=str(p["customer_id"]), reason=str(err)) from err
    cashier = session.get(User, p["user_id"])
    assert cashier is not None  # Known.check found the user
    lead = _lead(session, phone, email)
    customer = Customer(id=p["customer_id"], name=p["name"].strip(), phone=phone, email=email,
                        home_store_id=node.store_id, created_at=p["at"], status="customer")
    session.add(customer)
    session.flush()
    account = LoyaltyAccount(id=p["account_id"], customer_id=customer.id, tier="base",
                             balance=0, held=0)
    session.add(account)
    session.flush()
    loyalty_accounts.mark_changed(session, account.id)
    for consent in p["consents"]:
        profiles.set_consent(session, customer, consent["channel"], consent["granted"],
                             f"till {node.id} ({cashier.username})", cashier, p["at"])
    if p["card_number"]:
        _give_card(session, node, customer, account, p["card_number"])
    if lead is not None:
        data_rights.merge(session, customer, lead, cashier)
    else:
        profiles.publish_customer(session, customer)
    _look_for_duplicate(session, node, customer)
    audit.record(session, "customer_registered", f"customer {customer.id} at till {node.id}",
                 actor_id=cashier.id, at=p["at"],
                 details={"card_number": customer.card_number,
                          "lead": str(lead.id) if lead else None})
    return customer


def _lead(session: Session, phone: str | None, email: str | None) -> Customer | None:
    """The oldest live lead with this phone or e-mail."""
    matches = [column == value for column, value in ((Customer.phone, phone),
                                                     (Customer.email, email)) if value]
    if not matches:
        return None
    return session.scalars(select(Customer).where(
        or_(*matches), Customer.status == "lead", Customer.merged_into_id.is_(None),
        Customer.anonymized_at.is_(None)).order_by(Customer.created_at)).first()


def _give_card(session: Session, node: Node, customer: Customer, account: LoyaltyAccount,
               number: str) -> None:
    refusal = cards.give_from_stock(session, number, account, node.id)
    if refusal is None:
        customer.card_number = number
        session.flush()
        return
    holder = session.scalars(select(Customer).join(
        LoyaltyAccount, LoyaltyAccount.customer_id == Customer.id).join(
        Card, Card.account_id == LoyaltyAccount.id).where(Card.card_number == number)).first()
    note = (f"Till {node.id} gave card {number} to {customer.name}, but "
            + (f"{holder.name} got it first at another till" if holder is not None
               else f"central refused it ({refusal})")
            + ". Give them another card from stock; their points are on their account.")
    tasks.open_task(session, "card_conflict", customer=customer, store_id=node.store_id,
                    note=note)
    audit.record(session, "card_refused", f"card {number} for customer {customer.id}",
                 reason=refusal, details={"node": node.id,
                                          "holder": str(holder.id) if holder else None})


def _look_for_duplicate(session: Session, node: Node, customer: Customer) -> None:
    """A live customer with the member's phone or e-mail: a task for the store to look (the
    360 page of both names the other)."""
    found = profiles.likely_duplicate(
        session, profiles.Reach(), name=customer.name, phone=customer.phone,
        email=customer.email, birthday=None, home_store_id=None, other_than=customer.id)
    if found is None:
        return
    tasks.open_task(session, "member_duplicate", customer=customer, store_id=node.store_id,
                    note=f"{customer.name}, signed up at till {node.id}, has the phone or "
                         f"e-mail of {found.name} ({found.id}). The same person? Merge them "
                         f"on the customer page.")

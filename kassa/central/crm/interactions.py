"""Contacts on every channel: a lead from a contact with someone not yet a buyer, one contact
added to a customer's timeline (once, by its external id), and contacts imported in bulk from
another system's CSV (all or nothing, or the good rows with the bad ones reported).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kassa.central.access import audit
from kassa.central.crm.profiles import Reach, find
from kassa.central.models import Customer, Interaction, Store, User
from kassa.common.db import utcnow
from kassa.common.errors import Invalid
from kassa.common.formats.contacts import normal_email, normal_phone

CHANNELS = ("call", "email", "web_form", "chat", "social", "event", "meeting", "sms", "letter",
            "complaint")


def new_lead(session: Session, name: str, *, phone: str | None, email: str | None,
             source: dict, home_store: Store | None = None) -> Customer:
    """A person known from a contact, not yet a buyer. Not in the tills' feed until they get a
    card or buy (a lead is office work)."""
    phone, email = normal_phone(phone), normal_email(email)
    if not phone and not email:
        raise Invalid("A lead needs a phone number or an e-mail address.", code="lead_contact")
    lead = Customer(name=name.strip()[:200] or "(no name)", phone=phone, email=email,
                    status="lead", lead_source=source,
                    home_store_id=home_store.id if home_store else None)
    session.add(lead)
    session.flush()
    return lead


def by_external_id(session: Session, external_id: str) -> Interaction | None:
    return session.scalars(select(Interaction).where(
        Interaction.external_id == external_id)).first()


def record_interaction(session: Session, customer: Customer, *, channel: str,
                       direction: str, subject: str, body: str = "", at: datetime | None = None,
                       store_id: int | None = None, user_id: int | None = None,
                       external_id: str | None = None,
                       source: dict | None = None) -> tuple[Interaction, bool]:
    """Add one contact to the customer's timeline; with ``external_id`` a repeat is the same
    interaction (returned with ``False``)."""
    if channel not in CHANNELS:
        raise Invalid("Unknown channel %(channel)s.", code="bad_channel", channel=repr(channel))
    if external_id:
        earlier = session.scalars(select(Interaction).where(
            Interaction.external_id == external_id)).first()
        if earlier is not None:
            return earlier, False
    row = Interaction(customer_id=customer.id, channel=channel, direction=direction,
                      subject=subject[:200], body=body, at=at or utcnow(), store_id=store_id,
                      recorded_by_id=user_id, external_id=external_id, source=source)
    session.add(row)
    session.flush()
    return row, True


IMPORT_COLUMNS = ("channel", "direction", "subject", "body", "at", "card_number", "phone",
                  "email", "lead_name", "external_id")


@dataclass
class ImportReport:
    created: int = 0
    repeated: int = 0
    leads: int = 0
    skipped: int = 0
    written: bool = False
    errors: list[dict] = field(default_factory=list)  # the first 1000
    bad_lines: set[int] = field(default_factory=set)  # every line with an error

    def error(self, line: int, column: str, message: str) -> None:
        self.bad_lines.add(line)
        if len(self.errors) < 1000:  # a wholly wrong file need not list a million lines
            self.errors.append({"line": line, "field": column, "message": message})


def import_interactions(session: Session, text: str, user: User, reach: Reach, *,
                        skip_bad: bool = False) -> ImportReport:
    """Contacts from another system as CSV (``IMPORT_COLUMNS``; ``at`` ISO with its zone, a
    customer matched by card, phone or e-mail, else a lead named ``lead_name``). Checked whole
    first: all or nothing, or the good rows and a report of the bad (``skip_bad``)."""
    report = ImportReport()
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("channel", "subject", "at") if c not in (reader.fieldnames or [])]
    if missing:
        report.error(1, ",".join(missing), "the header lacks these columns")
        return report
    good = []
    for line, raw in enumerate(reader, start=2):
        row, at, match = _checked_row(line, raw, report)
        if line not in report.bad_lines and at is not None:
            good.append((line, row, at, match))
    report.skipped = len(report.bad_lines)
    if report.errors and not skip_bad:
        return report
    for line, row, at, match in good:
        _write_row(session, user, reach, report, line, row, at, match)
    report.written = True
    audit.record(session, "masterdata_import",
                 f"contacts: {report.created} new, {report.leads} leads",
                 reason=f"{report.skipped} rows skipped" if report.skipped else "",
                 actor_id=user.id)
    return report


def _checked_row(line: int, raw: dict, report: ImportReport) -> tuple[dict, datetime | None, dict]:
    """One CSV row's fields, its time and how to find its customer; what is wrong with it goes
    to ``report``."""
    row = {k: (raw.get(k) or "").strip() for k in IMPORT_COLUMNS}
    if row["channel"] not in CHANNELS:
        report.error(line, "channel", f"one of {', '.join(CHANNELS)}")
    if row["direction"] not in ("", "in", "out"):
        report.error(line, "direction", "in or out")
    if not 1 <= len(row["subject"]) <= 200:
        report.error(line, "subject", "1 to 200 characters")
    at = None
    try:
        at = datetime.fromisoformat(row["at"])
        if at.tzinfo is None:
            raise ValueError
    except ValueError:
        report.error(line, "at", "a time with its zone, like 2026-11-20T10:15:00+03:00")
    try:
        match = {"card_number": row["card_number"] or None,
                 "phone": normal_phone(row["phone"]), "email": normal_email(row["email"])}
    except Invalid as err:
        report.error(line, err.code.removeprefix("bad_"), str(err))
        match = {}
    if match and not any(match.values()):
        report.error(line, "phone", "a card number, phone or e-mail to find the customer")
    return row, at, match


def _write_row(session: Session, user: User, reach: Reach, report: ImportReport, line: int,
               row: dict, at: datetime, match: dict) -> None:
    """Record one checked row on its customer's timeline (a new lead if nobody matches)."""
    customer = find(session, **match, reach=reach)  # beyond reach: as if nobody, a new lead
    if customer is None:
        customer = new_lead(session, row["lead_name"] or "(no name)",
                            phone=match["phone"], email=match["email"],
                            source={"channel": row["channel"], "imported": True})
        report.leads += 1
    _row, new = record_interaction(
        session, customer, channel=row["channel"], direction=row["direction"] or "in",
        subject=row["subject"], body=row["body"], at=at, user_id=user.id,
        external_id=row["external_id"] or None)
    report.created += new
    report.repeated += not new

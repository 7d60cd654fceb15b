"""The cash drawer, wired to the receipt printer's drawer-kick connector. It opens by itself
when cash moves (a cash payment or refund, cash in or out, the shift's close: ``print_queue``);
opening it without any of these needs a store manager's PIN, and the override goes up to
central's audit log like every other."""

from __future__ import annotations

from sqlalchemy.orm import Session

from kassa.common.errors import Conflict
from kassa.pos_node.devices import print_queue
from kassa.pos_node.models import Override, User
from kassa.pos_node.sale import sales, shifts, staff


def printing(session: Session) -> None:
    """Refuse what needs the printer at a till that has none."""
    if not print_queue.enabled(session):
        raise Conflict("This till has no receipt printer (KASSA_PRINTER is off).",
                       code="printer_off")


def open_drawer(session: Session, user: User, override: staff.OverrideRequest | None) -> Override:
    """Open the drawer with no sale: always a store manager's override, recorded and sent up."""
    printing(session)
    shift = shifts.require_open(session)
    granted = staff.authorize(session, sales.identity(session).store_id, user, "open_drawer",
                              f"shift {shift.number}", True, staff.OverrideRequired(
                                  "Opening the drawer without a sale. A store manager must "
                                  "approve."), override)
    assert granted is not None  # always needed: ``authorize`` raised or recorded it
    print_queue.drawer(session, f"override {granted.id}")
    return granted

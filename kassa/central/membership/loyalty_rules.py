"""The chain's loyalty rules as central keeps them: one document (``kassa.loyalty.settings``),
checked whole before it is stored, numbered on every change and kept in every version.

Each change gives the document the next ``version`` and its time (``changed_at``), keeps a
copy in ``loyalty_rules_versions`` with who made it, goes into the change feed for every till
(the whole document: a till holds one version, never half of two) and into the audit log with
the fields before and after.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from kassa.central.access import audit
from kassa.central.models import LoyaltyRulesVersion, LoyaltySettings, User
from kassa.central.replication.feed import record_change
from kassa.common.db import utcnow
from kassa.common.errors import Invalid
from kassa.loyalty import settings
from kassa.loyalty.ledger import LedgerError

VERSIONS_SHOWN = 20


def set_rules(session: Session, document: dict, actor_id: int | None = None) -> dict:
    """Make ``document`` the chain's rules as the next version (``bad_rules``, naming the field
    at fault in ``details``, if it does not hold together); tills get it at their next pull.
    Returns the document as stored, with its version and time."""
    row = session.get(LoyaltySettings, 1, with_for_update=True)
    now = utcnow()
    version = int((row.document if row else {}).get("version", 0)) + 1
    stored = {**document, "version": version, "changed_at": now.isoformat()}
    try:
        settings.parse(stored)
    except LedgerError as err:
        values = dict(err.values)
        field = values.pop("field", "")
        raise Invalid(err.template, code=err.code, details={"field": field},
                      **values) from err
    if row is None:
        row = LoyaltySettings(id=1)
        session.add(row)
    row.document, row.updated_at = stored, now
    session.add(LoyaltyRulesVersion(version=version, document=stored, changed_at=now,
                                    changed_by_id=actor_id))
    session.flush()
    session.info.pop("kassa_loyalty_rules", None)  # parsed for the old version
    record_change(session, "loyalty_rules", 1, {"id": 1, "document": stored})
    return stored


def rules_document(session: Session) -> dict:
    """The chain's loyalty rules as central keeps them (the defaults, version 0, until first
    set)."""
    row = session.get(LoyaltySettings, 1)
    return row.document if row else settings.DEFAULT


def change_rules(session: Session, actor: User, changes: dict) -> dict:
    """Replace some top-level fields of the rules as a new version (``bad_rules`` if the result
    does not hold together, or a change names a field central sets itself); the audit line has
    the fields changed, before and after. Nothing changed, no new version."""
    central = sorted(set(changes) & settings.CENTRAL_FIELDS)
    if central:
        raise Invalid("%(field)s is set by central, not by an edit.", code="bad_rules",
                      details={"field": central[0]}, field=central[0])
    row = session.get(LoyaltySettings, 1, with_for_update=True)
    before = dict(row.document if row else settings.DEFAULT)
    after = {**before, **changes}
    if after == before:
        return before
    stored = set_rules(session, after, actor.id)
    changed = sorted(k for k in changes if before.get(k) != changes[k])
    audit.change(session, actor.id, "loyalty_rules", stored["version"],
                 {k: before.get(k) for k in changed}, {k: changes[k] for k in changed})
    return stored


def versions(session: Session) -> list[dict]:
    """The latest ``VERSIONS_SHOWN`` versions, newest first: number, time, who, and which
    fields each changed from the one before."""
    rows = session.execute(
        select(LoyaltyRulesVersion, User.username)
        .outerjoin(User, User.id == LoyaltyRulesVersion.changed_by_id)
        .order_by(LoyaltyRulesVersion.version.desc()).limit(VERSIONS_SHOWN + 1)).all()
    out = []
    for n, (row, username) in enumerate(rows[:VERSIONS_SHOWN]):
        earlier = rows[n + 1][0].document if n + 1 < len(rows) else {}
        out.append({"version": row.version, "changed_at": row.changed_at,
                    "changed_by": username, "fields": _changed_fields(earlier, row.document),
                    "document": row.document})
    return out


def _changed_fields(before: dict, after: dict) -> list[str]:
    if not before:
        return []  # the first version: it set everything
    return sorted(k for k in (set(before) | set(after)) - settings.CENTRAL_FIELDS
                  if before.get(k) != after.get(k))


"""Follow-up tasks with deadlines, and the notices that chase them.

A trigger (a lead from the website, a complaint logged at a till, a card reported lost on the
self-service page) opens a task by its rule:
a title, a deadline in minutes, the role of whoever at the store it concerns gets it (rules in
``task_rules`` override ``DEFAULT_RULES``). Tasks move open -> in_progress -> done (or
cancelled), each move with a comment. A scheduled job finds tasks past their deadline and
tells the assignee's manager (the store manager's is the regional manager, theirs central
office), in the app and by e-mail; the mail goes through ``mail_outbox`` and is sent after the
transaction that decided it (``kassa.central.crm.mail``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from kassa.central.access import audit
from kassa.central.models import (
    Customer,
    MailMessage,
    Notification,
    Store,
    Task,
    TaskComment,
    TaskRule,
    User,
)
from kassa.common.db import utcnow
from kassa.common.errors import Conflict, Invalid, KassaError
from kassa.common.i18n import DEFAULT_LOCALE, translations

TRIGGERS = ("web_lead", "complaint", "card_replacement", "member_duplicate", "card_conflict")
STATUSES = ("open", "in_progress", "done", "cancelled")
MOVES = {"open": {"in_progress", "done", "cancelled"}, "in_progress": {"done", "cancelled",
                                                                        "open"},
         "done": set(), "cancelled": set()}
ASSIGNABLE = ("store_manager", "regional_manager", "central_office")


@dataclass(frozen=True)
class Rule:
    title: str
    due_minutes: int
    assignee_role: str
    active: bool = True


DEFAULT_RULES = {
    "web_lead": Rule("Call back within 15 minutes", 15, "store_manager"),
    "complaint": Rule("Answer the customer's complaint", 24 * 60, "store_manager"),
    # A card reported lost on the self-service page: blocked already, a new one to issue.
    "card_replacement": Rule("Issue a replacement card", 2 * 24 * 60, "store_manager"),
    # A member signed up at a till with the phone or e-mail of a customer kassa has.
    "member_duplicate": Rule("Check a likely duplicate member", 3 * 24 * 60, "store_manager"),
    # A stock card two offline tills gave away: the second member needs another one.
    "card_conflict": Rule("Give the new member another card", 24 * 60, "store_manager"),
}


def rule_for(session: Session, trigger: str) -> Rule:
    row = session.get(TaskRule, trigger)
    if row is None:
        return DEFAULT_RULES[trigger]
    return Rule(row.title, row.due_minutes, row.assignee_role, row.active)


def set_rule(session: Session, trigger: str, title: str, due_minutes: int,
             assignee_role: str, active: bool = True) -> TaskRule:
    if trigger not in TRIGGERS:
        raise Invalid("Unknown trigger %(trigger)s.", code="bad_trigger", trigger=repr(trigger))
    if assignee_role not in ASSIGNABLE:
        raise Invalid("Tasks go to one of %(roles)s.", code="bad_role",
                      roles=", ".join(ASSIGNABLE))
    row = session.get(TaskRule, trigger) or TaskRule(trigger=trigger)
    row.title, row.due_minutes, row.assignee_role, row.active = (title, due_minutes,
                                                                 assignee_role, active)
    session.add(row)
    session.flush()
    return row


def _holder(session: Session, role: str, store_id: int | None) -> User | None:
    """The first active person of ``role`` for the store (its manager, its region's manager),
    or central office's first when the role has no one there."""
    stmt = select(User).where(User.role == role, User.active.is_(True)).order_by(User.id)
    if role == "store_manager":
        stmt = stmt.where(User.store_id == store_id)
    elif role == "regional_manager":
        stmt = stmt.where(User.region_id == select(Store.region_id).where(
            Store.id == store_id).scalar_subquery())
    found = session.scalars(stmt).first() if store_id is not None or role == "central_office" \
        else None
    if found is None and role != "central_office":
        return _holder(session, "central_office", None)
    return found


def open_task(session: Session, trigger: str, *, customer: Customer | None,
              store_id: int | None, note: str = "", now: datetime | None = None) -> Task | None:
    """A task by the trigger's rule (None when the rule is switched off)."""
    rule = rule_for(session, trigger)
    if not rule.active:
        return None
    now = now or utcnow()
    assignee = _holder(session, rule.assignee_role, store_id)
    task = Task(id=uuid.uuid4(), trigger=trigger, title=rule.title,
                customer_id=customer.id if customer else None, store_id=store_id,
                assignee_id=assignee.id if assignee else None, status="open", created_at=now,
                due_at=now + timedelta(minutes=rule.due_minutes))
    session.add(task)
    session.flush()
    if note:
        session.add(TaskComment(task_id=task.id, user_id=None, at=now, text=note[:2000]))
    if assignee is not None:
        _ = translations(assignee.locale or DEFAULT_LOCALE).gettext
        session.add(Notification(user_id=assignee.id, at=now, task_id=task.id,
                                 text=(_("New task: %(title)s") % {"title": rule.title})[:500]))
    session.flush()
    return task


def move(session: Session, task: Task, user: User, status: str | None, comment: str) -> Task:
    """A comment, and a move to ``status`` when given (``bad_move`` for one the flow does not
    allow: a done task stays done)."""
    if status is not None and status != task.status:
        if status not in MOVES[task.status]:
            raise Conflict("A task %(was)s cannot become %(now)s.", code="bad_move",
                           was=task.status, now=status)
        task.status = status
        task.done_at = utcnow() if status in ("done", "cancelled") else None
    session.add(TaskComment(task_id=task.id, user_id=user.id, text=comment,
                            status=status))
    session.flush()
    return task


def manager_of(session: Session, user: User, store_id: int | None) -> User | None:
    """Who a late task's assignee answers to."""
    if user.role == "store_manager":
        return _holder(session, "regional_manager", user.store_id or store_id)
    if user.role == "regional_manager":
        return _holder(session, "central_office", None)
    return None


def notice_overdue(session: Session, now: datetime | None = None) -> int:
    """Tell each late task's assignee's manager, once per task: in the app, and by mail when
    they have an address. Returns how many tasks were noticed."""
    now = now or utcnow()
    late = list(session.scalars(select(Task).where(
        Task.status.in_(("open", "in_progress")), Task.due_at < now,
        Task.overdue_noticed_at.is_(None)).order_by(Task.due_at).limit(500)
        .with_for_update(skip_locked=True)))
    for task in late:
        assignee = session.get(User, task.assignee_id) if task.assignee_id else None
        boss = manager_of(session, assignee, task.store_id) if assignee else \
            _holder(session, "central_office", None)
        task.overdue_noticed_at = now
        if boss is None:
            continue
        _ = translations(boss.locale or DEFAULT_LOCALE).gettext  # in the reader's language
        who = assignee.full_name or assignee.username if assignee else _("nobody")
        text = _('Overdue: "%(title)s" (%(who)s) was due %(due)s UTC') % {
            "title": task.title, "who": who, "due": f"{task.due_at:%Y-%m-%d %H:%M}"}
        session.add(Notification(user_id=boss.id, at=now, task_id=task.id, text=text[:500]))
        if boss.email:
            subject = _("Overdue task: %(title)s") % {"title": task.title}
            body = _("%(notice)s.\n\nTask %(task)s\n") % {"notice": text, "task": task.id}
            session.add(MailMessage(to_address=boss.email, subject=subject[:200], body=body,
                                    created_at=now))
    session.flush()
    return len(late)


def change_rule(session: Session, actor: User, trigger: str, rule: dict) -> dict:
    """Change a trigger's rule (the tasks it opens from now on); audited."""
    if trigger not in TRIGGERS:
        raise KassaError("No trigger %(trigger)s.", code="trigger_not_found", status=404,
                         trigger=repr(trigger))
    before = rule_for(session, trigger).__dict__
    set_rule(session, trigger, **rule)
    after = rule_for(session, trigger).__dict__
    audit.change(session, actor.id, "task_rule", trigger, before, after)
    return {"trigger": trigger, **after}

"""Follow-up tasks and notices over HTTP: the tasks one may see (a store manager's store, a
regional manager's region, everything for central office), moving them with comments, one's
in-app notices, and the rules that open tasks."""

from __future__ import annotations

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate
from sqlalchemy import or_, select

from kassa.central.access.auth import require_role
from kassa.central.crm import tasks
from kassa.central.handlers import OPERATORS, PEOPLE, STAFF, db
from kassa.central.models import Notification, Store, Task, TaskComment, User
from kassa.common.db import utcnow
from kassa.common.errors import NotFound

bp = Blueprint("tasks", __name__, url_prefix="/api/v1", description="Follow-up tasks")


class CommentSchema(ma.Schema):
    at = fields.AwareDateTime()
    user = fields.String(allow_none=True)
    text = fields.String()
    status = fields.String(allow_none=True)


class TaskSchema(ma.Schema):
    id = fields.UUID()
    trigger = fields.String()
    title = fields.String()
    customer_id = fields.UUID(allow_none=True)
    store_code = fields.String(allow_none=True)
    assignee = fields.String(allow_none=True)
    status = fields.String()
    created_at = fields.AwareDateTime()
    due_at = fields.AwareDateTime()
    done_at = fields.AwareDateTime(allow_none=True)
    overdue = fields.Boolean()
    comments = fields.List(fields.Nested(CommentSchema))


class TaskListSchema(ma.Schema):
    tasks = fields.List(fields.Nested(TaskSchema))


class TaskQuerySchema(ma.Schema):
    status = fields.String(validate=validate.OneOf(tasks.STATUSES))
    mine = fields.Boolean(load_default=False)


class TaskMoveSchema(ma.Schema):
    status = fields.String(load_default=None, validate=validate.OneOf(tasks.STATUSES))
    comment = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class NotificationSchema(ma.Schema):
    id = fields.Integer()
    at = fields.AwareDateTime()
    text = fields.String()
    task_id = fields.UUID(allow_none=True)
    read = fields.Boolean()


class NotificationListSchema(ma.Schema):
    notifications = fields.List(fields.Nested(NotificationSchema))


class RuleSchema(ma.Schema):
    trigger = fields.String(dump_only=True)
    title = fields.String(required=True, validate=[
        validate.Length(min=1, max=200),
        validate.Regexp(r"^[^\r\n]*\Z", error="one line")])
    due_minutes = fields.Integer(required=True, strict=True,
                                 validate=validate.Range(min=1, max=60 * 24 * 90))
    assignee_role = fields.String(required=True, validate=validate.OneOf(tasks.ASSIGNABLE))
    active = fields.Boolean(load_default=True)


class RuleListSchema(ma.Schema):
    rules = fields.List(fields.Nested(RuleSchema))


def _scope(stmt, user: User):
    if user.role == "store_manager":
        return stmt.where(or_(Task.store_id == user.store_id, Task.assignee_id == user.id))
    if user.role == "regional_manager":
        return stmt.where(or_(Task.store_id.in_(select(Store.id).where(
            Store.region_id == user.region_id)), Task.assignee_id == user.id))
    return stmt


def _view(session, task: Task, with_comments: bool = False) -> dict:
    store = session.get(Store, task.store_id) if task.store_id else None
    assignee = session.get(User, task.assignee_id) if task.assignee_id else None
    comments = []
    if with_comments:
        for c in session.scalars(select(TaskComment).where(TaskComment.task_id == task.id)
                                 .order_by(TaskComment.at, TaskComment.id)):
            author = session.get(User, c.user_id) if c.user_id else None
            comments.append({"at": c.at, "user": author.username if author else None,
                             "text": c.text, "status": c.status})
    return {"id": task.id, "trigger": task.trigger, "title": task.title,
            "customer_id": task.customer_id, "store_code": store.code if store else None,
            "assignee": assignee.username if assignee else None, "status": task.status,
            "created_at": task.created_at, "due_at": task.due_at, "done_at": task.done_at,
            "overdue": task.status in ("open", "in_progress") and task.due_at < utcnow(),
            "comments": comments}


@bp.route("/tasks")
class Tasks(MethodView):
    decorators = [require_role(*PEOPLE)]

    @bp.arguments(TaskQuerySchema, location="query")
    @bp.response(200, TaskListSchema)
    def get(self, args):
        """Tasks the signed-in person may see, soonest deadline first."""
        stmt = _scope(select(Task), g.user).order_by(Task.due_at).limit(500)
        if "status" in args:
            stmt = stmt.where(Task.status == args["status"])
        if args["mine"]:
            stmt = stmt.where(Task.assignee_id == g.user.id)
        with db().read() as session:
            return {"tasks": [_view(session, t) for t in session.scalars(stmt)]}


@bp.route("/tasks/<uuid:task_id>")
class OneTask(MethodView):
    decorators = [require_role(*PEOPLE)]

    @bp.response(200, TaskSchema)
    def get(self, task_id):
        """A task with its comments."""
        with db().read() as session:
            return _view(session, self._task(session, task_id), with_comments=True)

    @bp.arguments(TaskMoveSchema)
    @bp.response(200, TaskSchema)
    def patch(self, body, task_id):
        """Comment on a task, and move it (open, in_progress, done, cancelled)."""
        with db().transaction() as session:
            task = self._task(session, task_id, lock=True)
            tasks.move(session, task, g.user, body["status"], body["comment"])
            return _view(session, task, with_comments=True)

    @staticmethod
    def _task(session, task_id, lock: bool = False) -> Task:
        stmt = _scope(select(Task).where(Task.id == task_id), g.user)
        task = session.scalars(stmt.with_for_update() if lock else stmt).first()
        if task is None:
            raise NotFound("No such task.", code="task_not_found")
        return task


@bp.route("/notifications")
class Notifications(MethodView):
    decorators = [require_role(*PEOPLE)]

    @bp.response(200, NotificationListSchema)
    def get(self):
        """One's own notices, newest first (unread ones included, read ones for a week)."""
        with db().read() as session:
            rows = session.scalars(select(Notification).where(
                Notification.user_id == g.user.id).order_by(Notification.at.desc())
                .limit(200))
            return {"notifications": [{"id": n.id, "at": n.at, "text": n.text,
                                       "task_id": n.task_id, "read": n.read_at is not None}
                                      for n in rows]}


@bp.route("/notifications/<int(min=1, max=2147483647):notification_id>/read")
class ReadNotification(MethodView):
    decorators = [require_role(*PEOPLE)]

    @bp.response(204)
    def post(self, notification_id):
        """Mark one of one's notices read."""
        with db().transaction() as session:
            row = session.get(Notification, notification_id)
            if row is None or row.user_id != g.user.id:
                raise NotFound("No such notice.", code="notification_not_found")
            row.read_at = row.read_at or utcnow()


@bp.route("/task-rules")
class Rules(MethodView):
    decorators = [require_role(*STAFF)]

    @bp.response(200, RuleListSchema)
    def get(self):
        """What opens a task, with its title, deadline and whose it is."""
        with db().read() as session:
            return {"rules": [{"trigger": t, **tasks.rule_for(session, t).__dict__}
                              for t in tasks.TRIGGERS]}


@bp.route("/task-rules/<string(maxlength=32):trigger>")
class OneRule(MethodView):
    decorators = [require_role(*OPERATORS)]

    @bp.arguments(RuleSchema)
    @bp.response(200, RuleSchema)
    def put(self, body, trigger):
        """Change a trigger's rule (the tasks it opens from now on)."""
        with db().transaction() as session:
            return tasks.change_rule(session, g.user, trigger, body)

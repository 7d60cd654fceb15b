"""Follow-up tasks on SQLite and PostgreSQL: a website lead gives the store manager a call-back
due in 15 minutes, a complaint noted at a real till gives them a task to answer it; tasks move
with comments; a late one is told to the manager's manager in the app and by e-mail, which a
real SMTP server (aiosmtpd) receives, and a mail server that is down delays mail, never
loses it."""

from sqlalchemy import select, update

from kassa.central import jobs
from kassa.central.models import Customer, Interaction, MailMessage, Task, User
from kassa.common.db import utcnow
from kassa.pos_node.replication.client import sync_now
from tests.helpers import free_port, wait_until
from tests.helpers import staff_auth as who


def test_a_lead_becomes_a_call_back_and_a_late_one_is_mailed_upwards(
        central_app, central_db, seeded, smtp, monkeypatch):
    api = central_app.test_client()
    assert api.post("/api/v1/public/leads", json={
        "name": "Irina", "phone": "+79123456789", "message": "Call me", "store_code": "S001",
        "fill_ms": 5000}).status_code == 202
    sm = who(seeded, "sm-s001")
    mine = api.get("/api/v1/tasks?mine=true", headers=sm).json["tasks"]
    assert [(t["title"], t["store_code"], t["status"]) for t in mine] == [
        ("Call back within 15 minutes", "S001", "open")]
    task = mine[0]
    assert api.get("/api/v1/notifications", headers=sm).json["notifications"][0]["text"] == \
        "New task: Call back within 15 minutes"
    assert api.get(f"/api/v1/tasks/{task['id']}", headers=who(seeded, "rm-spb")
                   ).status_code == 404

    # The mail server is down at first: the notice waits in the outbox.
    with central_db.transaction() as s:
        s.execute(update(Task).values(due_at=utcnow().replace(year=2020)))
    monkeypatch.setenv("KASSA_SMTP_PORT", str(free_port()))
    assert jobs.run(central_db, "overdue_tasks") == 1
    assert jobs.run(central_db, "overdue_tasks") == 0  # told once
    assert jobs.run(central_db, "send_mail") == 0
    with central_db.read() as s:
        waiting = s.scalars(select(MailMessage)).one()
        assert (waiting.sent_at, waiting.attempts) == (None, 1) and waiting.last_error
    rm = who(seeded, "rm-msk")
    notices = api.get("/api/v1/notifications", headers=rm).json["notifications"]
    assert notices[0]["text"].startswith('Overdue: "Call back within 15 minutes" (Sergey Lebedev)')
    assert api.post(f"/api/v1/notifications/{notices[0]['id']}/read",
                    headers=rm, json={}).status_code == 204
    assert api.post(f"/api/v1/notifications/{notices[0]['id']}/read",
                    headers=sm, json={}).status_code == 404  # not theirs

    monkeypatch.setenv("KASSA_SMTP_PORT", str(smtp.port))
    assert jobs.run(central_db, "send_mail") == 1
    assert wait_until(lambda: smtp.messages, timeout=10)
    recipients, text = smtp.messages[0]
    assert recipients == ["rm-msk@kassa.example"]
    assert "Subject: Overdue task: Call back within 15 minutes" in text

    path = f"/api/v1/tasks/{task['id']}"
    assert api.patch(path, json={"status": "in_progress", "comment": "Calling"},
                     headers=sm).json["status"] == "in_progress"
    done = api.patch(path, json={"status": "done", "comment": "Card issued"}, headers=sm).json
    assert done["status"] == "done" and [c["text"] for c in done["comments"]] == [
        "Call me", "Calling", "Card issued"]
    assert api.patch(path, json={"status": "open", "comment": "again"},
                     headers=sm).json["error"] == "bad_move"


def test_a_complaint_at_the_till_gives_the_store_manager_a_task(central_app, central_db,
                                                               seeded, tills):
    api = central_app.test_client()
    till, db = tills["pos-1"]
    till.post("/api/v1/cart/lines", json={"sku": "1001", "quantity": 1})
    till.post("/api/v1/cart/customer", json={"card_number": "7770000000000001"})
    noted = till.post("/api/v1/complaints", json={"text": "The milk was sour"})
    assert noted.status_code == 201 and noted.json["customer_id"]
    assert till.post("/api/v1/complaints", json={"text": "x"}).status_code == 422
    sync_now(db)
    sync_now(db)  # a second push changes nothing
    tasks_seen = api.get("/api/v1/tasks", headers=who(seeded, "sm-s001")).json["tasks"]
    assert [(t["trigger"], t["assignee"]) for t in tasks_seen] == [("complaint", "sm-s001")]
    with central_db.read() as s:
        anna = s.scalars(select(Customer).where(
            Customer.card_number == "7770000000000001")).one()
        contact = s.scalars(select(Interaction).where(
            Interaction.customer_id == anna.id)).one()
        assert (contact.channel, contact.body) == ("complaint", "The milk was sour")


def test_notices_come_in_the_readers_own_language(central_app, central_db, seeded):
    with central_db.transaction() as s:
        s.execute(update(User).where(User.username.in_(("sm-s001", "rm-msk")))
                  .values(locale="ru"))
    api = central_app.test_client()
    assert api.post("/api/v1/public/leads", json={
        "name": "Irina", "phone": "+79123456789", "message": "Call me", "store_code": "S001",
        "fill_ms": 5000}).status_code == 202
    notices = api.get("/api/v1/notifications", headers=who(seeded, "sm-s001")).json
    assert notices["notifications"][0]["text"] == "Новая задача: Call back within 15 minutes"
    with central_db.transaction() as s:
        s.execute(update(Task).values(due_at=utcnow().replace(year=2020)))
    assert jobs.run(central_db, "overdue_tasks") == 1
    notices = api.get("/api/v1/notifications", headers=who(seeded, "rm-msk")).json
    assert notices["notifications"][0]["text"].startswith(
        "Просрочено: «Call back within 15 minutes» (Sergey Lebedev)")

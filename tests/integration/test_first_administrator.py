"""The first administrator of a new central, made with the real command on both engines: the
database must exist and be migrated first (and is never made empty by the command), the
password is asked twice on a terminal or read from standard input, an easy one is refused, and
the line in the audit log says it was done on the command line."""

from __future__ import annotations

import os
import pty
import select as io_select
import subprocess
import sys

import pytest
from sqlalchemy import select

from kassa.central import create_app
from kassa.central.models import AuditEntry, User
from kassa.common.config import CentralConfig
from kassa.common.db import Database
from tests.conftest import _sqlalchemy_url
from tests.helpers import csrf_of

KASSA = [sys.executable, "-m", "kassa.cli"]
STRONG = "Kassa-first-admin-2026"


@pytest.fixture
def empty_central(central_engine, tmp_path, request):
    """Where a new central's database is to be: nothing there yet (SQLite), or an empty
    database (PostgreSQL, as `deploy/postgres/setup.sh` makes it before migrating)."""
    if central_engine == "sqlite":
        return f"sqlite:///{tmp_path / 'central.sqlite'}"
    return _sqlalchemy_url(request.getfixturevalue("pg_server").create())


def kassa(url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "KASSA_CENTRAL_DB": url}
    return subprocess.run(KASSA + ["central", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=60)


def on_a_terminal(url: str, *args: str, answers: list[str]) -> tuple[int, str]:
    """Run the command with a terminal of its own and type each answer when it is asked."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command, its terminal the pty
        os.environ["KASSA_CENTRAL_DB"] = url
        os.execv(sys.executable, KASSA + ["central", *args])
    seen, since, pending = "", "", list(answers)  # since: what came after the last answer
    while True:
        ready, _, _ = io_select.select([fd], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(fd, 1024).decode()
        except OSError:  # the command exited and closed its side
            break
        if not chunk:
            break
        seen, since = seen + chunk, since + chunk
        if pending and since.endswith(": "):  # a prompt, waiting
            os.write(fd, (pending.pop(0) + "\n").encode())
            since = ""
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), seen


def test_the_first_administrator_on_a_new_central(empty_central, central_engine, tmp_path):
    missing = kassa(empty_central, "create-user", "admin", "--role", "admin",
                    "--password-stdin", stdin=STRONG + "\n")
    assert missing.returncode == 1 and "[no_database]" in missing.stderr
    assert "kassa central init-db" in missing.stderr
    if central_engine == "sqlite":
        assert not (tmp_path / "central.sqlite").exists()  # never made empty by it

    assert kassa(empty_central, "init-db").returncode == 0
    weak = kassa(empty_central, "create-user", "admin", "--role", "admin", "--password-stdin",
                 stdin="qwerty123456\n")
    assert weak.returncode == 1 and "[weak_password]" in weak.stderr
    assert "hint: This is a very common password." in weak.stderr
    no_terminal = kassa(empty_central, "create-user", "admin", "--role", "admin", stdin="")
    assert no_terminal.returncode == 2 and "--password-stdin" in no_terminal.stderr

    # On a terminal: asked twice; two different answers are asked again.
    code, screen = on_a_terminal(
        empty_central, "create-user", "admin", "--role", "admin", "--full-name", "Irina Adm",
        answers=[STRONG, "Kassa-first-admin-2025", STRONG, STRONG])
    assert code == 0, screen
    assert screen.count("Password for admin:") == 2 and screen.count("The password again:") == 2
    assert "do not match" in screen and STRONG not in screen  # typed unseen
    assert "admin admin created" in screen

    again = kassa(empty_central, "create-user", "admin", "--role", "admin",
                  "--password-stdin", stdin=STRONG + "\n")
    assert again.returncode == 1 and "[duplicate_user]" in again.stderr
    no_store = kassa(empty_central, "create-user", "cashier-1", "--role", "cashier",
                     "--password-stdin", stdin="4321\n")
    assert no_store.returncode == 1 and "[bad_role]" in no_store.stderr

    db = Database(empty_central)
    try:
        with db.read() as session:
            admin = session.scalars(select(User).where(User.username == "admin")).one()
            assert (admin.role, admin.full_name, admin.active) == ("admin", "Irina Adm", True)
            line = session.scalars(select(AuditEntry).where(
                AuditEntry.subject == "user admin")).one()
            assert line.actor_id is None and line.details["via"] == "command line"
            assert line.details["after"]["role"] == "admin" and "password" not in str(
                line.details)
    finally:
        db.dispose()

    # The administrator signs in and opens the master-data page.
    app = create_app(CentralConfig(db_url=empty_central, clock_skew_seconds=300))
    try:
        client = app.test_client()
        form = client.get("/ops/signin")
        signed = client.post("/ops/signin", data={"csrf": csrf_of(form.text),
                                                   "username": "admin", "password": STRONG,
                                                   "next": "/ops/masterdata"})
        assert signed.status_code == 302 and signed.headers["Location"].endswith(
            "/ops/masterdata")
        assert client.get("/ops/masterdata").status_code == 200
    finally:
        app.extensions["kassa_db"].dispose()

"""Fixtures shared by the whole suite: real SQLite files and a real PostgreSQL.

Central's tests run on both engines (``central_db_url`` is parametrized). Each test session
creates its own PostgreSQL databases (named after the xdist worker) and drops them at the end;
each test gets a fresh copy of a migrated template, so tests never see each other's rows.
PostgreSQL is not optional: when it does not answer, the PostgreSQL half fails, it is not
skipped.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import psycopg
import pytest

from kassa.central import models as central_models
from kassa.central.demo_data import seed
from kassa.common.db import Database
from kassa.common.storage.migrate import upgrade
from kassa.pos_node import models as node_models

PG_ADMIN = os.environ.get("KASSA_TEST_PG", "postgresql://127.0.0.1:5432/test")
# Tills started by tests watch no card reader unless a test gives them one (and reserves it):
# a till watching the machine's first reader would read other tests' virtual cards.
os.environ.setdefault("KASSA_CARD_READER", "off")
# Nor do they stream their databases to a replica unless a test asks (tests/e2e/test_backup.py):
# a Litestream per process started would only cost the suite time.
os.environ.setdefault("KASSA_BACKUP", "off")
# Still argon2id, at its cheapest: the suite hashes and checks demo secrets thousands of times,
# and at the real cost (0.13 s each here) that was a quarter of the integration tests' time.
os.environ.setdefault("KASSA_PASSWORD_HASH_COST", "test")


def pytest_addoption(parser):
    parser.addoption("--central-db", choices=("both", "sqlite", "postgresql"), default="both",
                     help="which engines central's tests run on (default both)")


def pytest_generate_tests(metafunc):
    if "central_engine" in metafunc.fixturenames:
        choice = metafunc.config.getoption("--central-db")
        engines = ["sqlite", "postgresql"] if choice == "both" else [choice]
        metafunc.parametrize("central_engine", engines, scope="session")


def _sqlalchemy_url(dbname: str) -> str:
    base = PG_ADMIN.rsplit("/", 1)[0].split("://", 1)[1]
    return f"postgresql+psycopg://{base}/{dbname}"


class PgServer:
    """Creates and drops this session's databases through the admin connection."""

    def __init__(self, tag: str):
        self.tag = tag
        self.created: list[str] = []
        try:
            self.admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as err:
            pytest.fail(f"PostgreSQL is required for the central tests and did not answer at "
                        f"{PG_ADMIN}: {err}", pytrace=False)

    def create(self, template: str | None = None) -> str:
        name = f"kassa_{self.tag}_{uuid.uuid4().hex[:10]}"
        self.admin.execute(f'CREATE DATABASE "{name}"'
                           + (f' TEMPLATE "{template}"' if template else ""))
        self.created.append(name)
        return name

    def drop(self, name: str) -> None:
        self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.created:
            self.created.remove(name)

    def close(self) -> None:
        for name in list(reversed(self.created)):
            self.drop(name)
        self.admin.close()


@pytest.fixture(scope="session")
def pg_server(worker_id):
    server = PgServer(worker_id.replace("gw", "w") + "_" + uuid.uuid4().hex[:4])
    yield server
    server.close()


@pytest.fixture(scope="session")
def central_template(central_engine, tmp_path_factory, request):
    """A migrated central database holding the demo chain, one per engine per session.

    Seeding hashes a dozen passwords with argon2, so it is done once here and every test
    gets a copy; ``demo_secrets`` hands out the passwords and enrolment codes it made.
    """
    if central_engine == "sqlite":
        path = tmp_path_factory.mktemp("central-template") / "central.sqlite"
        url, source = f"sqlite:///{path}", str(path)
    else:
        source = request.getfixturevalue("pg_server").create()
        url = _sqlalchemy_url(source)
    upgrade(central_models.MIGRATIONS, url)
    db = Database(url)
    with db.transaction() as session:
        secrets = seed(session)
    db.dispose()
    return (central_engine, source, secrets)


@pytest.fixture
def demo_secrets(central_template) -> dict:
    """Passwords, PINs and node enrolment codes of the demo chain in ``central_db_url``."""
    return central_template[2]


@pytest.fixture
def central_db_url(central_template, tmp_path, request):
    """A fresh central database with the demo chain, for one test, on the parametrized engine."""
    kind, source, _secrets = central_template
    if kind == "sqlite":
        target = tmp_path / "central.sqlite"
        shutil.copyfile(source, target)
        return f"sqlite:///{target}"
    server = request.getfixturevalue("pg_server")
    name = server.create(template=source)
    request.addfinalizer(lambda: server.drop(name))
    return _sqlalchemy_url(name)


@pytest.fixture(scope="session")
def node_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("node-template") / "node.sqlite"
    upgrade(node_models.MIGRATIONS, f"sqlite:///{path}")
    return path


@pytest.fixture
def node_db_url(node_template, tmp_path) -> str:
    target = tmp_path / "node.sqlite"
    shutil.copyfile(node_template, target)
    return f"sqlite:///{target}"

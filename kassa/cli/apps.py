"""What the ``kassa`` command's groups share: the apps they act on (built for Flask's CLI, or
as served: with the scheduled jobs, the background sync, the card reader and Litestream), one
transaction on central's database for a command, and failing with a refusal's code."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import NoReturn

import click
import flask.cli
from flask.cli import FlaskGroup
from sqlalchemy import inspect
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from kassa.common.config import CentralConfig
from kassa.common.db import Database
from kassa.common.errors import KassaError
from kassa.common.storage.backup import sqlite_path


def central_app():
    from kassa.central import create_app
    return create_app()


def serving_central_app():
    """Central as served: the app plus its scheduled jobs (``kassa.central.jobs``)."""
    import atexit
    import os

    from kassa.central.jobs import Jobs
    from kassa.common.storage.backup import supervise
    app = central_app()
    supervise(app.config["KASSA"].db_url, app.config["KASSA"].backup)
    if os.environ.get("KASSA_CENTRAL_JOBS", "on") != "off":
        jobs = Jobs(app.extensions["kassa_db"], app.config["KASSA"].warehouse_path).start()
        atexit.register(jobs.stop)
    return app


def pos_app():
    from kassa.pos_node import create_app
    return create_app()


def serving_pos_app():
    """The till as served: the app plus its background sync, card reader and print worker,
    stopped when the worker exits."""
    import atexit

    from kassa.common.storage.backup import supervise
    from kassa.pos_node.replication.scheduler import SyncScheduler
    app = pos_app()
    config = app.config["KASSA"]
    supervise(config.db_url, config.backup)
    if config.sync_interval > 0:
        scheduler = SyncScheduler(app.extensions["kassa_db"], config.sync_interval,
                                  config.http_timeout, config.push_batch_size,
                                  config.sync_backoff_max,
                                  timedelta(days=config.outbox_keep_days))
        scheduler.start()
        app.extensions["kassa_sync"] = scheduler
        atexit.register(scheduler.stop)
    if config.card_reader != "off":
        reader = app.extensions["kassa_card_reader"].start()
        atexit.register(reader.stop)
    if "kassa_printer" in app.extensions:
        printer = app.extensions["kassa_printer"].start()
        atexit.register(printer.stop)
    if "kassa_fiscal_watch" in app.extensions:
        watch = app.extensions["kassa_fiscal_watch"].start()
        atexit.register(watch.stop)
    return app


class _Commands:
    """Our commands open the database they work on themselves (``central_work``, the till's
    ``Database``) and build no app: building central's (its routes and OpenAPI document) took
    more than a second of every command. Flask's own ``shell`` and ``routes`` still get one."""

    def command(self, *args, **kwargs):
        kwargs.setdefault("with_appcontext", False)
        return super().command(*args, **kwargs)

    def group(self, *args, **kwargs):
        kwargs.setdefault("cls", CommandGroup)
        return super().group(*args, **kwargs)


class CommandGroup(_Commands, flask.cli.AppGroup):
    """A group of commands under an app's group (``kassa central warehouse``)."""


class AppGroup(_Commands, FlaskGroup):
    """Flask's CLI group for one of our apps, without the options that pick another app."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("add_version_option", False)
        kwargs.setdefault("load_dotenv", False)
        super().__init__(*args, **kwargs)
        self.params = [p for p in self.params if p.name not in ("env_file", "app", "debug")]


def fail(err: Exception) -> NoReturn:
    code = getattr(err, "code", "error")
    click.echo(f"error [{code}]: {err}", err=True)
    hint = (getattr(err, "details", None) or {}).get("hint")
    if hint:
        click.echo(f"hint: {hint}", err=True)
    sys.exit(1)


def central_database() -> Database:
    """Central's database as configured, once it has its schema; a database that is missing or
    not initialised is said in one line (never made empty here: ``kassa central init-db``)."""
    url = CentralConfig.from_env().db_url
    path = sqlite_path(url)
    if path is not None and not path.exists():
        fail(KassaError("There is no database at %(url)s: run `kassa central init-db` first "
                        "(KASSA_CENTRAL_DB says which database to use).", code="no_database",
                        url=safe_url(url)))
    db = Database(url)
    try:
        initialised = inspect(db.engine).has_table("alembic_version")
    except OperationalError as err:
        db.dispose()
        fail(KassaError("Central's database at %(url)s does not answer: %(reason)s",
                        code="no_database", url=safe_url(url), reason=str(err.orig)))
    if not initialised:
        db.dispose()
        fail(KassaError("The database at %(url)s has no schema yet: run `kassa central "
                        "init-db` first.", code="no_database", url=safe_url(url)))
    return db


@contextmanager
def central_work() -> Iterator[Session]:
    """One transaction on central's database for a CLI command; a refusal exits with its code."""
    db = central_database()
    try:
        with db.transaction() as session:
            yield session
    except KassaError as err:
        fail(err)
    finally:
        db.dispose()



def safe_url(url: str) -> str:
    """A database URL without its password, for printing."""
    from sqlalchemy.engine import make_url
    return make_url(url).render_as_string(hide_password=True)

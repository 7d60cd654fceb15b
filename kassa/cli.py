"""The ``kassa`` command: one entry point for central, the POS node and the demo.

``kassa central ...`` and ``kassa pos ...`` are Flask CLI groups, so Flask's own ``routes``
and ``shell`` work against each app as well.
"""

from __future__ import annotations

import json
import sys

import click
from flask.cli import FlaskGroup

from kassa.common.config import CentralConfig, NodeConfig
from kassa.common.db import Database
from kassa.common.errors import KassaError


def _central_app():
    from kassa.central import create_app
    return create_app()


def _pos_app():
    from kassa.pos_node import create_app
    return create_app()


def _serving_pos_app():
    """The till as served: the app plus its background sync, stopped when the worker exits."""
    import atexit

    from kassa.sync.scheduler import SyncScheduler
    app = _pos_app()
    config = app.config["KASSA"]
    if config.sync_interval > 0:
        scheduler = SyncScheduler(app.extensions["kassa_db"], config.sync_interval,
                                  config.http_timeout, config.push_batch_size,
                                  config.sync_backoff_max)
        scheduler.start()
        app.extensions["kassa_sync"] = scheduler
        atexit.register(scheduler.stop)
    return app


class AppGroup(FlaskGroup):
    """Flask's CLI group for one of our apps, without the options that pick another app."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("add_version_option", False)
        kwargs.setdefault("load_dotenv", False)
        super().__init__(*args, **kwargs)
        self.params = [p for p in self.params if p.name not in ("env_file", "app", "debug")]


def _fail(err: Exception) -> None:
    code = getattr(err, "code", "error")
    click.echo(f"error [{code}]: {err}", err=True)
    sys.exit(1)


@click.group(help="kassa: retail CRM around the point of sale.\n\n"
                  "Start with `make demo`; see the README for every environment variable.")
@click.version_option(package_name="kassa")
def main() -> None:
    pass


@main.group(cls=AppGroup, create_app=_central_app,
            help="Central: authorization, master data, reports.")
def central() -> None:
    pass


@central.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8700, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int,
              help="gunicorn worker processes (use 1 with an SQLite database)")
@click.option("--threads", default=4, show_default=True, type=int)
def central_serve(host: str, port: int, workers: int, threads: int) -> None:
    """Serve central's API under gunicorn until Ctrl-C."""
    from kassa.common.serve import serve
    if CentralConfig.from_env().db_url.startswith("sqlite"):
        workers = 1
    serve(_central_app, host, port, workers, threads, "kassa-central")


@central.command("init-db")
def central_init_db() -> None:
    """Create or upgrade central's schema (alembic upgrade head)."""
    from kassa.common.migrate import upgrade
    url = CentralConfig.from_env().db_url
    upgrade("central", url)
    click.echo(f"central database at head: {_safe(url)}")


@central.command("migrate")
@click.option("--to", "revision", default="head", show_default=True)
@click.option("--new", "message", default=None,
              help="developers: autogenerate a new revision with this message instead")
def central_migrate(revision: str, message: str | None) -> None:
    """Apply pending migrations (or, with --new, write a new one from the models)."""
    from kassa.common import migrate
    url = CentralConfig.from_env().db_url
    if message:
        migrate.revision("central", url, message)
    else:
        migrate.upgrade("central", url, revision)
        click.echo(f"central database at {revision}: {_safe(url)}")


@central.command("seed-demo")
@click.option("--node", "node_ids", multiple=True, default=("pos-1", "pos-2"), show_default=True)
def central_seed_demo(node_ids: tuple[str, ...]) -> None:
    """Load demo master data; prints JSON with fresh passwords, PINs and enrolment codes."""
    from kassa.central.demo_data import seed
    db = Database(CentralConfig.from_env().db_url)
    try:
        with db.transaction() as session:
            click.echo(json.dumps(seed(session, node_ids), indent=2))
    except KassaError as err:
        _fail(err)
    finally:
        db.dispose()


@central.command("add-node")
@click.argument("node_id")
@click.option("--store", "store_code", required=True, help="store code, e.g. S001")
def central_add_node(node_id: str, store_code: str) -> None:
    """Register a POS node; prints its one-time enrolment code for `kassa pos init`."""
    from kassa.central.masterdata import add_node, store_by_code
    db = Database(CentralConfig.from_env().db_url)
    try:
        with db.transaction() as session:
            code = add_node(session, node_id, store_by_code(session, store_code))
        click.echo(code)
    except KassaError as err:
        _fail(err)
    finally:
        db.dispose()


@main.group(cls=AppGroup, create_app=_pos_app,
            help="POS node: the till, its local replica and its sync.")
def pos() -> None:
    pass


@pos.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8701, show_default=True, type=int)
@click.option("--threads", default=4, show_default=True, type=int)
def pos_serve(host: str, port: int, threads: int) -> None:
    """Serve the till until Ctrl-C (one process: the node's SQLite has one writer)."""
    from kassa.common.serve import serve
    serve(_serving_pos_app, host, port, 1, threads, "kassa-pos")


@pos.command("init")
@click.option("--node-id", required=True)
@click.option("--central-url", required=True)
@click.option("--enroll-code", required=True, envvar="KASSA_ENROLL_CODE",
              help="one-time code from `kassa central add-node` (or $KASSA_ENROLL_CODE)")
def pos_init(node_id: str, central_url: str, enroll_code: str) -> None:
    """Create this node's database, generate its key and enrol it with central."""
    from kassa.pos_node.setup import init_node
    config = NodeConfig.from_env()
    try:
        init_node(config.db_url, node_id, central_url, enroll_code, config.http_timeout)
    except KassaError as err:
        _fail(err)
    click.echo(f"node {node_id} enrolled with {central_url}; database {_safe(config.db_url)}")


@pos.command("sync-now")
def pos_sync_now() -> None:
    """Pull master data and push pending sales to central once, now."""
    from kassa.sync.client import SyncError, sync_now
    config = NodeConfig.from_env()
    db = Database(config.db_url)
    try:
        result = sync_now(db, config.http_timeout, config.push_batch_size)
    except SyncError as err:
        _fail(err)
    finally:
        db.dispose()
    click.echo(f"pulled {result.pulled} changes (cursor {result.feed_cursor}); "
               f"pushed {result.pushed} events (central holds up to {result.high_water})")


@main.command("demo")
@click.option("--port", default=8700, show_default=True, type=int,
              help="central's port; the nodes take the next ones")
def demo(port: int) -> None:
    """Start central and two POS nodes with demo data; Ctrl-C stops them all."""
    from kassa.demo import run_demo
    run_demo(port)


def _safe(url: str) -> str:
    """A database URL without its password, for printing."""
    from sqlalchemy.engine import make_url
    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    main()

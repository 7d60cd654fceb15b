"""The ``kassa`` command: one entry point for central, the POS node and the demo.

``kassa central ...`` and ``kassa pos ...`` are Flask CLI groups, so Flask's own ``routes``
and ``shell`` work against each app as well.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import NoReturn

import click
from flask.cli import FlaskGroup

from kassa.common.config import CentralConfig, NodeConfig
from kassa.common.db import Database
from kassa.common.errors import KassaError


def _central_app():
    from kassa.central import create_app
    return create_app()


def _serving_central_app():
    """Central as served: the app plus its scheduled jobs (``kassa.central.jobs``)."""
    import atexit
    import os

    from kassa.central.jobs import Jobs
    from kassa.common.storage.backup import supervise
    app = _central_app()
    supervise(app.config["KASSA"].db_url, app.config["KASSA"].backup)
    if os.environ.get("KASSA_CENTRAL_JOBS", "on") != "off":
        jobs = Jobs(app.extensions["kassa_db"], app.config["KASSA"].warehouse_path).start()
        atexit.register(jobs.stop)
    return app


def _pos_app():
    from kassa.pos_node import create_app
    return create_app()


def _serving_pos_app():
    """The till as served: the app plus its background sync, stopped when the worker exits."""
    import atexit

    from kassa.common.storage.backup import supervise
    from kassa.pos_node.replication.scheduler import SyncScheduler
    app = _pos_app()
    config = app.config["KASSA"]
    supervise(config.db_url, config.backup)
    if config.sync_interval > 0:
        scheduler = SyncScheduler(app.extensions["kassa_db"], config.sync_interval,
                                  config.http_timeout, config.push_batch_size,
                                  config.sync_backoff_max)
        scheduler.start()
        app.extensions["kassa_sync"] = scheduler
        atexit.register(scheduler.stop)
    if config.card_reader != "off":
        reader = app.extensions["kassa_card_reader"].start()
        atexit.register(reader.stop)
    return app


class AppGroup(FlaskGroup):
    """Flask's CLI group for one of our apps, without the options that pick another app."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("add_version_option", False)
        kwargs.setdefault("load_dotenv", False)
        super().__init__(*args, **kwargs)
        self.params = [p for p in self.params if p.name not in ("env_file", "app", "debug")]


def _fail(err: Exception) -> NoReturn:
    code = getattr(err, "code", "error")
    click.echo(f"error [{code}]: {err}", err=True)
    sys.exit(1)


@contextmanager
def _central_work():
    """One transaction on central's database for a CLI command; a refusal exits with its code."""
    db = Database(CentralConfig.from_env().db_url)
    try:
        with db.transaction() as session:
            yield session
    except KassaError as err:
        _fail(err)
    finally:
        db.dispose()


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
    from kassa.common.runtime.serve import serve
    if CentralConfig.from_env().db_url.startswith("sqlite"):
        workers = 1
    serve(_serving_central_app, host, port, workers, threads, "kassa-central")


@central.command("run-jobs")
def central_run_jobs() -> None:
    """Run central's scheduled jobs once now (release stale holds, expire points, review
    tiers) and print what they did."""
    import json

    from kassa.central.jobs import run_all
    db = Database(CentralConfig.from_env().db_url)
    try:
        click.echo(json.dumps(run_all(db), default=str))
    finally:
        db.dispose()


@central.command("init-db")
def central_init_db() -> None:
    """Create or upgrade central's schema (alembic upgrade head)."""
    from kassa.central.models import MIGRATIONS
    from kassa.common.storage.migrate import upgrade
    url = CentralConfig.from_env().db_url
    upgrade(MIGRATIONS, url)
    click.echo(f"central database at head: {_safe(url)}")


@central.command("migrate")
@click.option("--to", "revision", default="head", show_default=True)
@click.option("--new", "message", default=None,
              help="developers: autogenerate a new revision with this message instead")
def central_migrate(revision: str, message: str | None) -> None:
    """Apply pending migrations (or, with --new, write a new one from the models)."""
    from kassa.central.models import MIGRATIONS
    from kassa.common.storage import migrate
    url = CentralConfig.from_env().db_url
    if message:
        migrate.revision(MIGRATIONS, url, message)
    else:
        migrate.upgrade(MIGRATIONS, url, revision)
        click.echo(f"central database at {revision}: {_safe(url)}")


@central.command("seed-demo")
@click.option("--node", "node_ids", multiple=True, default=("pos-1", "pos-2"), show_default=True)
def central_seed_demo(node_ids: tuple[str, ...]) -> None:
    """Load demo master data; prints JSON with fresh passwords, PINs and enrolment codes."""
    from kassa.central.demo_data import seed
    with _central_work() as session:
        secrets = seed(session, node_ids)
    click.echo(json.dumps(secrets, indent=2))


@central.command("add-node")
@click.argument("node_id")
@click.option("--store", "store_code", required=True, help="store code, e.g. S001")
def central_add_node(node_id: str, store_code: str) -> None:
    """Register a POS node; prints its one-time enrolment code for `kassa pos init`."""
    from kassa.central.catalog.stores import store_by_code
    from kassa.central.replication.nodes import add_node
    with _central_work() as session:
        code = add_node(session, node_id, store_by_code(session, store_code))
    click.echo(code)


@central.command("nodes")
def central_nodes() -> None:
    """Every node's sync state: last contact, events behind, queue, skew, quarantine."""
    from kassa.central.replication.node_status import statuses
    with _central_work() as session:
        rows = statuses(session, None)
    click.echo(f"{'node':<10} {'store':<6} {'state':<12} {'lag s':>7} {'high':>7} "
               f"{'behind':>7} {'queue':>6} {'held':>5}")
    for r in rows:
        click.echo(f"{r['node_id']:<10} {r['store_code']:<6} {r['state']:<12} "
                   f"{_dash(r['lag_seconds']):>7} {r['high_water']:>7} "
                   f"{_dash(r['events_behind']):>7} {_dash(r['queue_depth']):>6} "
                   f"{r['quarantined']:>5}")


def _dash(value) -> str:
    return "-" if value is None else str(value)


@central.command("revoke-node")
@click.argument("node_id")
def central_revoke_node(node_id: str) -> None:
    """Stop trusting a node's key now (a lost or stolen till)."""
    from kassa.central.replication.nodes import revoke_node
    with _central_work() as session:
        revoke_node(session, node_id)
    click.echo(f"node {node_id} revoked")


@central.command("reenroll-node")
@click.argument("node_id")
def central_reenroll_node(node_id: str) -> None:
    """A new one-time enrolment code for an existing node (revoked, or rebuilt)."""
    from kassa.central.replication.nodes import reenroll_node
    with _central_work() as session:
        code = reenroll_node(session, node_id)
    click.echo(code)


@central.command("rotate-issuer-key")
def central_rotate_issuer_key() -> None:
    """Make the next card issuer key: cards issued from now on are signed with it; cards of
    older keys keep working until those keys are retired."""
    from kassa.central.membership.cards import rotate_issuer_key
    key_dir = CentralConfig.from_env().issuer_key_dir
    with _central_work() as session:
        key_id = rotate_issuer_key(session, key_dir).id
    click.echo(f"issuer key {key_id} made ({key_dir}/issuer-{key_id}.pem); new cards are signed "
               "with it, tills trust it from their next pull")


@central.command("retire-issuer-key")
@click.argument("key_id", type=int)
@click.option("--force", is_flag=True, help="retire even though cards in use carry the key "
              "(they stop working at every till)")
def central_retire_issuer_key(key_id: int, force: bool) -> None:
    """Stop trusting an old card issuer key: tills refuse the cards it signed from their next
    pull (refused for the newest key, and while cards in use carry it, unless --force)."""
    from kassa.central.membership.cards import retire_issuer_key
    with _central_work() as session:
        stopped = retire_issuer_key(session, key_id, force=force)
    stop = f"; {_count(stopped, 'card')} signed with it " + ("stops" if stopped == 1 else "stop")
    click.echo(f"issuer key {key_id} retired" + (f"{stop} working" if stopped else ""))


@central.command("close-day")
@click.argument("store_code")
@click.argument("day", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option("--force", is_flag=True, help="close even though nodes may hold the day's events")
def central_close_day(store_code: str, day, force: bool) -> None:
    """Close a store's business day (refused while its nodes may still hold events of it)."""
    from kassa.central.catalog.stores import store_by_code
    from kassa.central.replication.node_status import close_day
    with _central_work() as session:
        closed = close_day(session, store_by_code(session, store_code), day.date(), None, force)
    for node in closed["unsynced_nodes"]:
        click.echo(f"warning: {node['node_id']} {node['reason']} "
                   f"({node['events_behind']} events behind)", err=True)
    click.echo(f"{store_code} {day.date()} closed")


@central.command("import-transactions")
@click.argument("csv_file", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="check every row, load nothing")
def central_import_transactions(csv_file: str, dry_run: bool) -> None:
    """Load customers' purchases from a previous system (CSV: customer,date,quantity,amount
    and optionally store,product); all rows or none, and the same file only once."""
    from pathlib import Path

    from kassa.central.reporting.history_import import import_history
    from kassa.common.money import format_minor
    with _central_work() as session:
        report = import_history(session, Path(csv_file).read_bytes(), dry_run=dry_run)
    if report.ignored_columns:
        click.echo(f"note: columns ignored: {', '.join(report.ignored_columns)}", err=True)
    for e in report.errors:
        click.echo(f"line {e['line']}, {e['field'] or 'row'}: {e['message']}", err=True)
    if report.errors_total:
        more = report.errors_total - len(report.errors)
        click.echo((f"... and {more} more\n" if more else "")
                   + f"{_count(report.errors_total, 'problem')} in "
                   f"{_count(report.bad_rows, 'row')}; nothing loaded", err=True)
        sys.exit(1)
    span = (f", {report.first_at:%Y-%m-%d} to {report.last_at:%Y-%m-%d}"
            if report.first_at else "")
    what = (f"{report.rows} rows for {report.customers} customers{span}, "
            f"amount {format_minor(report.amount_minor)}")
    if report.already_imported:
        click.echo(f"already imported {report.imported_at:%Y-%m-%d %H:%M} UTC ({what}); "
                   "nothing changed")
    elif dry_run:
        click.echo(f"checked {what}; nothing loaded (--dry-run)")
    else:
        click.echo(f"loaded {what} (batch {report.batch[:12]})")


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}" + ("" if n == 1 else "s")


@central.group("warehouse")
def central_warehouse() -> None:
    """The analytic warehouse (DuckDB, ``KASSA_WAREHOUSE``): load it, rebuild it, export it,
    score customers and make offers."""


def _warehouse_run(work):
    """Run ``work(db, path)`` on central's database and the warehouse; print its result."""
    from kassa.central.reporting.warehouse.analytics import Busy
    from kassa.central.reporting.warehouse.load import OtherCentral
    config = CentralConfig.from_env()
    if config.warehouse_path is None:
        _fail(KassaError("KASSA_WAREHOUSE is off: there is no warehouse."))
    db = Database(config.db_url)
    try:
        click.echo(json.dumps(work(db, config.warehouse_path), default=str))
    except (Busy, OtherCentral) as err:
        _fail(err)
    finally:
        db.dispose()


@central_warehouse.command("refresh")
def warehouse_refresh() -> None:
    """Load what changed at central since the last run (resumable; twice changes nothing)."""
    from kassa.central.reporting.warehouse import analytics
    _warehouse_run(analytics.refresh)


@central_warehouse.command("rebuild")
def warehouse_rebuild() -> None:
    """Load everything again into a new file (keeping customer history and every score run)
    and swap it in."""
    from kassa.central.reporting.warehouse import load
    _warehouse_run(lambda db, path: _locked(path, lambda: load.rebuild(db, path)))


def _locked(path, work):
    """``work()`` while this process alone works on the warehouse at ``path``."""
    from kassa.central.reporting.warehouse.analytics import locked
    with locked(path):
        return work()


@central_warehouse.command("export")
@click.argument("out_dir", metavar="DIR", type=click.Path(file_okay=False))
def warehouse_export(out_dir: str) -> None:
    """Write the warehouse as Parquet under DIR: facts partitioned by month and region
    (Hive layout), dimensions and scores one file each."""
    from pathlib import Path

    from kassa.central.reporting.warehouse import export
    _warehouse_run(lambda _db, path: _locked(path, lambda: export.export(path, Path(out_dir))))


@central_warehouse.command("analyze")
@click.option("--as-of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="score as of the end of this day (default: today, UTC)")
def warehouse_analyze(as_of) -> None:
    """Refresh, then RFM segments, lifetime value and offers, sent back to central."""
    from kassa.central.reporting.warehouse import analytics
    _warehouse_run(lambda db, path: analytics.analyze(
        db, path, as_of.date() if as_of else None))


@central.group("quarantine")
def central_quarantine() -> None:
    """Events central could not apply: list, replay after repair, or discard."""


@central_quarantine.command("list")
@click.option("--node", "node_id", default=None)
@click.option("--status", default="held", show_default=True,
              type=click.Choice(["held", "replayed", "discarded"]))
def quarantine_list(node_id: str | None, status: str) -> None:
    from kassa.central.replication import quarantine
    with _central_work() as session:
        for e in quarantine.held(session, node_id, status):
            click.echo(f"{e.id:>6} {e.node_id:<10} seq {e.seq:<8} {e.kind:<18} {e.reason:<24} "
                       f"{e.message}")


@central_quarantine.command("show")
@click.argument("event_id", type=int)
def quarantine_show(event_id: int) -> None:
    """The event's payload as JSON (edit it and pass it to `replay --payload`)."""
    from kassa.central.models import QuarantinedEvent
    with _central_work() as session:
        event = session.get(QuarantinedEvent, event_id)
        if event is None:
            _fail(KassaError(f"No quarantined event {event_id}.", code="quarantine_not_found"))
        click.echo(json.dumps(event.payload, indent=2, ensure_ascii=False))


@central_quarantine.command("replay")
@click.argument("event_id", type=int)
@click.option("--payload", "payload_file", type=click.File("r"), default=None,
              help="a repaired payload (JSON file); without it the event is replayed as is")
@click.option("--note", default="", help="what was repaired")
@click.option("--as", "actor", default="cli", show_default=True, help="who replays it")
def quarantine_replay(event_id: int, payload_file, note: str, actor: str) -> None:
    from kassa.central.replication import quarantine
    payload = json.load(payload_file) if payload_file else None
    with _central_work() as session:
        event = quarantine.replay(session, event_id, actor, payload, note)
    click.echo(f"replayed {event.node_id} seq {event.seq} ({event.kind})")


@central_quarantine.command("replay-node")
@click.argument("node_id")
@click.option("--as", "actor", default="cli", show_default=True)
def quarantine_replay_node(node_id: str, actor: str) -> None:
    """Replay every held event of a node in seq order (after fixing master data)."""
    from kassa.central.replication import quarantine
    db = Database(CentralConfig.from_env().db_url)
    try:
        for seq, outcome in quarantine.replay_node(db, node_id, actor):
            click.echo(f"seq {seq}: {outcome}")
    finally:
        db.dispose()


@central_quarantine.command("discard")
@click.argument("event_id", type=int)
@click.option("--reason", required=True)
@click.option("--as", "actor", default="cli", show_default=True)
def quarantine_discard(event_id: int, reason: str, actor: str) -> None:
    from kassa.central.replication import quarantine
    with _central_work() as session:
        event = quarantine.discard(session, event_id, actor, reason)
    click.echo(f"discarded {event.node_id} seq {event.seq} ({event.kind})")


@main.group(cls=AppGroup, create_app=_pos_app,
            help="POS node: the till, its local replica and its sync.")
def pos() -> None:
    pass


@pos.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8701, show_default=True, type=int)
@click.option("--threads", default=4, show_default=True, type=int)
def pos_serve(host: str, port: int, threads: int) -> None:
    """Serve the till until Ctrl-C (one process: the node's SQLite has one writer). Brings the
    node's database to the installed kassa's schema first (a till upgrades on restart)."""
    from kassa.common.runtime.serve import serve
    from kassa.common.storage.migrate import upgrade
    from kassa.pos_node.models import MIGRATIONS
    upgrade(MIGRATIONS, NodeConfig.from_env().db_url)
    serve(_serving_pos_app, host, port, 1, threads, "kassa-pos")


@pos.command("init")
@click.option("--node-id", required=True)
@click.option("--central-url", required=True)
@click.option("--enroll-code", required=True, envvar="KASSA_ENROLL_CODE",
              help="one-time code from `kassa central add-node` (or $KASSA_ENROLL_CODE)")
def pos_init(node_id: str, central_url: str, enroll_code: str) -> None:
    """Create this node's database, generate its key and enrol it with central."""
    from kassa.pos_node.replication.bootstrap import bootstrap_if_new
    from kassa.pos_node.replication.client import SyncError
    from kassa.pos_node.replication.enrolment import init_node
    config = NodeConfig.from_env()
    try:
        init_node(config.db_url, node_id, central_url, enroll_code, config.http_timeout)
        # Master data from one consistent snapshot; the feed goes on from its version.
        bootstrap_if_new(config.db_url, config.http_timeout)
    except (KassaError, SyncError) as err:
        _fail(err)
    click.echo(f"node {node_id} enrolled with {central_url}; database {_safe(config.db_url)}")


def _initialised_node(config: NodeConfig) -> Database:
    """The node's database, or a clear refusal when `kassa pos init` never made it."""
    from sqlalchemy import inspect, text
    db = Database(config.db_url)
    with db.engine.connect() as conn:
        ready = inspect(conn).has_table("node_identity") and conn.execute(
            text("SELECT count(*) FROM node_identity")).scalar()
    if not ready:
        db.dispose()
        _fail(KassaError(f"No node is set up in {_safe(config.db_url)}: run `kassa pos init` "
                         "first.", code="node_not_initialised"))
    return db


@pos.command("sync-now")
def pos_sync_now() -> None:
    """Push pending facts and pull master data once, now (a new node bootstraps first)."""
    from kassa.pos_node.replication.bootstrap import bootstrap_if_new
    from kassa.pos_node.replication.client import SyncError, sync_now
    config = NodeConfig.from_env()
    db = _initialised_node(config)
    try:
        bootstrap_if_new(config.db_url, config.http_timeout)
        result = sync_now(db, config.http_timeout, config.push_batch_size)
    except SyncError as err:
        _fail(err)
    finally:
        db.dispose()
    click.echo(f"pulled {result.pulled} changes (cursor {result.feed_cursor}); "
               f"pushed {result.pushed} events (central holds up to {result.high_water})")


@pos.command("rotate-key")
def pos_rotate_key() -> None:
    """Give this node a new signing key (central accepts the old one for KASSA_KEY_GRACE)."""
    from kassa.pos_node.replication.client import SyncError, rotate_key
    config = NodeConfig.from_env()
    db = _initialised_node(config)
    try:
        rotate_key(db, config.http_timeout)
    except SyncError as err:
        _fail(err)
    finally:
        db.dispose()
    click.echo("key rotated")


@pos.command("restore", with_appcontext=False)
@click.option("--replica", default=None, help="Litestream replica URL (default: KASSA_BACKUP)")
@click.option("--timestamp", default=None,
              help="restore the database as it was at this moment (RFC 3339); default: latest")
@click.option("--output", default=None, type=click.Path(dir_okay=False),
              help="restore a copy to this file instead, checked and described (a drill: the "
                   "till is not touched, central not asked)")
@click.option("--force", is_flag=True,
              help="move an existing database aside (kept as <file>.lost-<time>) first")
def pos_restore(replica: str | None, timestamp: str | None, output: str | None,
                force: bool) -> None:
    """Rebuild this till's database from its Litestream replica and go on from what central
    holds: no seq gap, no seq twice, no receipt number reused. Prints what was lost, by seq.
    Needs central to answer; the till must be stopped."""
    import json
    from pathlib import Path

    from kassa.pos_node.replication.client import SyncError
    from kassa.pos_node.replication.restore import restore_node, verify_copy
    config = NodeConfig.from_env()
    replica = replica or (config.backup.replica_url if config.backup else None)
    if not replica:
        _fail(KassaError("No replica: KASSA_BACKUP is off; pass --replica URL.",
                         code="no_replica"))
    try:
        if output:
            report = verify_copy(replica, Path(output), timestamp)
        else:
            report = restore_node(config.db_url, replica, config.http_timeout, timestamp, force)
    except (KassaError, SyncError) as err:
        _fail(err)
    click.echo(json.dumps(report, indent=2, default=str))


@main.group("card", help="Loyalty cards: issue and block at central; emulate a card.")
def card() -> None:
    pass


def _customer_account(session, who: str):
    from sqlalchemy import select

    from kassa.central.membership.loyalty_accounts import open_account
    from kassa.central.models import Customer
    customer = session.scalars(select(Customer).where(
        (Customer.card_number == who) | (Customer.phone == who) | (Customer.email == who)
    )).first()
    if customer is None:
        _fail(KassaError(f"No customer with card number, phone or e-mail {who!r}.",
                         code="customer_not_found"))
    return open_account(session, customer)


def _write_card_file(state, out) -> None:
    from pathlib import Path

    from kassa.smartcard.applet import save_card
    save_card(state, Path(out))


@card.command("issue")
@click.option("--customer", "who", required=True, help="the customer's card number, phone or "
              "e-mail")
@click.option("--out", required=True, type=click.Path(dir_okay=False, writable=True),
              help="the card file to write (the virtual card runs from it)")
@click.option("--pin", default=None, help="4-8 digits; asked before points are spent")
def card_issue(who: str, out: str, pin: str | None) -> None:
    """Issue an active card to a customer (central): key pair, issuer certificate, card file."""
    from kassa.central.membership import cards
    key_dir = CentralConfig.from_env().issuer_key_dir
    with _central_work() as session:
        state = cards.issue(session, _customer_account(session, who), key_dir, pin=pin)
        cards.activate(session, state.card_number)
    _write_card_file(state, out)
    click.echo(state.card_number)


@card.command("block")
@click.argument("number")
@click.option("--reason", required=True, type=click.Choice(["lost", "stolen", "damaged",
                                                            "fraud"]))
def card_block(number: str, reason: str) -> None:
    """Block a card (central); every till refuses it from its next pull."""
    from kassa.central.membership import cards
    with _central_work() as session:
        cards.block(session, number, reason)
    click.echo(f"card {number} blocked ({reason})")


@card.command("web-pin")
@click.argument("number")
@click.option("--pin", default=None, help="4-8 digits; default: a new random 6-digit PIN")
def card_web_pin(number: str, pin: str | None) -> None:
    """Set the PIN the card's holder signs in with at /my/ (central; printed once)."""
    import secrets

    from kassa.central.membership import selfservice
    pin = pin or f"{secrets.randbelow(10**6):06d}"
    with _central_work() as session:
        selfservice.set_web_pin(session, number, pin)
    click.echo(pin)


@card.command("replace")
@click.argument("number")
@click.option("--out", required=True, type=click.Path(dir_okay=False, writable=True))
@click.option("--pin", default=None)
def card_replace(number: str, out: str, pin: str | None) -> None:
    """A new card for the same account; the old one is blocked everywhere."""
    from kassa.central.membership import cards
    key_dir = CentralConfig.from_env().issuer_key_dir
    with _central_work() as session:
        state = cards.replace(session, number, key_dir, pin=pin)
    _write_card_file(state, out)
    click.echo(state.card_number)


@card.command("readers")
def card_readers() -> None:
    """List the PC/SC readers pcscd knows, and which hold a card."""
    from smartcard.Exceptions import NoCardException, SmartcardException
    from smartcard.pcsc.PCSCExceptions import BaseSCardException
    from smartcard.System import readers
    try:
        found = readers()
    except (SmartcardException, BaseSCardException) as err:
        raise click.ClickException(f"pcscd does not answer ({err}); is it running?") from err
    if not found:
        click.echo("no readers")
    for reader in found:
        connection = reader.createConnection()
        try:
            connection.connect()
            atr = " ".join(f"{b:02X}" for b in connection.getATR())
            state = f"card present (ATR {atr})"
        except (NoCardException, SmartcardException):
            state = "empty"
        finally:
            try:
                connection.release()
            except SmartcardException:
                pass
        click.echo(f"{reader}\t{state}")


@card.command("emulate")
@click.argument("card_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="where pcscd's vpcd "
              "driver listens")
@click.option("--port", default=35963, show_default=True, type=int,
              help="35963 is the first virtual reader")
def card_emulate(card_file: str, host: str, port: int) -> None:
    """Be the card in CARD_FILE in pcscd's virtual reader until Ctrl-C (state saved to the
    file atomically after every change)."""
    import signal
    import threading
    from pathlib import Path

    from kassa.smartcard.applet import LoyaltyCardApplet, load_card
    from kassa.smartcard.vpcd import VirtualCard

    path = Path(card_file)
    applet = LoyaltyCardApplet(load_card(path), path)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    click.echo(f"card {applet.state.card_number} in the virtual reader at {host}:{port}")
    VirtualCard(applet, host=host, port=port).run(stop)


@main.group("i18n", help="The message catalogs (kassa/translations): update and check.")
def i18n() -> None:
    pass


@i18n.command("update")
@click.option("--fill", "fills", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help='translations to add: JSON {"ru": {"English text": "перевод", '
                   '"%(n)s point": ["форма 1", "форма 2", "форма 5"]}}')
def i18n_update(fills: tuple[str, ...]) -> None:
    """Bring both catalogs in line with the code, templates and scripts."""
    from pathlib import Path

    from kassa.common import i18n_tools
    missing = i18n_tools.update(i18n_tools.read_fills([Path(f) for f in fills]))
    for loc, count in missing.items():
        click.echo(f"{loc}: {count} message(s) without a translation")


@i18n.command("check")
def i18n_check() -> None:
    """List what is untranslated or missing; exit 1 if anything is."""
    from kassa.common import i18n_tools
    found = i18n_tools.problems()
    for line in found:
        click.echo(line)
    if found:
        raise SystemExit(1)
    click.echo("the catalogs are complete")


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

"""``kassa central ...``: serve central, its schema, nodes, issuer keys, business days, imports,
the warehouse and the quarantine. A Flask CLI group, so ``routes`` and ``shell`` work too."""

from __future__ import annotations

import json
import sys

import click

from kassa.cli.apps import (
    AppGroup,
    central_app,
    central_work,
    fail,
    safe_url,
    serving_central_app,
)
from kassa.common.config import CentralConfig
from kassa.common.db import Database
from kassa.common.errors import KassaError


@click.group(cls=AppGroup, create_app=central_app,
            help="Central: authorization, master data, reports.")
def central() -> None:
    pass


@central.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8700, show_default=True, type=int)
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="gunicorn worker processes  [default: 2 on PostgreSQL; SQLite takes 1]")
@click.option("--threads", default=4, show_default=True, type=int)
@click.option("--keep-alive", "keep_alive", type=click.IntRange(min=0), default=0,
              show_default=True,
              help="idle connections a worker keeps open between a client's requests (a "
                   "chain's tills syncing every few seconds: about tills / workers; 0 closes "
                   "each connection after its request, spreading a few busy clients evenly)")
def central_serve(host: str, port: int, workers: int | None, threads: int,
                  keep_alive: int) -> None:
    """Serve central's API under gunicorn until Ctrl-C."""
    from kassa.common.runtime.serve import serve
    sqlite = CentralConfig.from_env().db_url.startswith("sqlite")
    if sqlite and workers not in (None, 1):
        raise click.UsageError("central on SQLite is served by one worker (SQLite has one "
                               "writer); use PostgreSQL for more", ctx=click.get_current_context())
    serve(serving_central_app, host, port, workers or (1 if sqlite else 2), threads,
          "kassa-central", keep_alive=keep_alive)


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
    click.echo(f"central database at head: {safe_url(url)}")


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
        click.echo(f"central database at {revision}: {safe_url(url)}")


@central.command("create-user")
@click.argument("username")
@click.option("--role", required=True, help="admin, central_office, regional_manager, "
              "store_manager or cashier")
@click.option("--full-name", default="", help="the name shown for the user")
@click.option("--email", default=None, help="where the user's notices go")
@click.option("--region", "region_code", default=None, help="a regional manager's region code")
@click.option("--store", "store_code", default=None,
              help="a store manager's or cashier's store code")
@click.option("--password-stdin", is_flag=True,
              help="read the password (a till user's PIN) from standard input, not the terminal")
def central_create_user(username: str, role: str, full_name: str, email: str | None,
                        region_code: str | None, store_code: str | None,
                        password_stdin: bool) -> None:
    """Create a user: the first administrator of a new central, or anyone later. Asks for the
    password (a till user's PIN) twice; a password easy to guess is refused. Audited as done
    on the command line."""
    from kassa.central.access import people
    what = "PIN" if role in people.TILL_ROLES else "password"
    if password_stdin:
        secret = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        secret = click.prompt(f"{what.capitalize()} for {username}", hide_input=True,
                              confirmation_prompt=f"The {what} again")
    else:
        raise click.UsageError(f"No terminal to ask for the {what} on: give it on standard "
                               "input with --password-stdin.")
    with central_work() as session:
        user = people.open_account_on_console(
            session, username=username, role=role, secret=secret, full_name=full_name,
            email=email, region_code=region_code, store_code=store_code)
    where = "a till of their store" if what == "PIN" else "central's /ops/signin"
    click.echo(f"{user['role']} {user['username']} created: they sign in at {where}.")


@central.command("seed-demo")
@click.option("--node", "node_ids", multiple=True, default=("pos-1", "pos-2"), show_default=True)
def central_seed_demo(node_ids: tuple[str, ...]) -> None:
    """Load demo master data; prints JSON with fresh passwords, PINs and enrolment codes."""
    from kassa.central.demo_data import seed
    with central_work() as session:
        secrets = seed(session, node_ids)
    click.echo(json.dumps(secrets, indent=2))


@central.command("add-node")
@click.argument("node_id")
@click.option("--store", "store_code", required=True, help="store code, e.g. S001")
def central_add_node(node_id: str, store_code: str) -> None:
    """Register a POS node; prints its one-time enrolment code for `kassa pos init`."""
    from kassa.central.catalog.stores import store_by_code
    from kassa.central.replication.nodes import add_node
    with central_work() as session:
        code = add_node(session, node_id, store_by_code(session, store_code))
    click.echo(code)


@central.command("nodes")
def central_nodes() -> None:
    """Every node's sync state: last contact, events behind, queue, skew, quarantine."""
    from kassa.central.replication.node_status import statuses
    with central_work() as session:
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
    with central_work() as session:
        revoke_node(session, node_id)
    click.echo(f"node {node_id} revoked")


@central.command("reenroll-node")
@click.argument("node_id")
def central_reenroll_node(node_id: str) -> None:
    """A new one-time enrolment code for an existing node (revoked, or rebuilt)."""
    from kassa.central.replication.nodes import reenroll_node
    with central_work() as session:
        code = reenroll_node(session, node_id)
    click.echo(code)


@central.command("rotate-issuer-key")
def central_rotate_issuer_key() -> None:
    """Make the next card issuer key: cards issued from now on are signed with it; cards of
    older keys keep working until those keys are retired."""
    from kassa.central.membership.cards import rotate_issuer_key
    key_dir = CentralConfig.from_env().issuer_key_dir
    with central_work() as session:
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
    with central_work() as session:
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
    with central_work() as session:
        closed = close_day(session, store_by_code(session, store_code), day.date(), None, force)
    for node in closed["unsynced_nodes"]:
        click.echo(f"warning: {node['node_id']} {node['reason']} "
                   f"({node['events_behind']} events behind)", err=True)
    click.echo(f"{store_code} {day.date()} closed")


class _Steps:
    """What a long command is doing, on stderr when that is a terminal (a script's output
    stays what it was): one line per stage with the seconds so far; rows counted in place."""

    def __init__(self) -> None:
        import time
        self._clock = time.monotonic
        self._start = self._clock()
        self._shown = sys.stderr.isatty()
        self._stage: str | None = None

    def __call__(self, stage: str, done: int = 0, total: int = 0) -> None:
        if not self._shown:
            return
        line = f"{self._clock() - self._start:7.1f} s  {stage}"
        if total:
            line += f" {done:,} of {total:,}"
        # The same stage again overwrites its line; a new one starts a line of its own.
        start = "\r" if stage == self._stage else ("\n" if self._stage else "")
        click.echo(start + line, err=True, nl=False)
        self._stage = stage

    def done(self) -> None:
        if self._shown and self._stage:
            click.echo(err=True)


@central.command("import-transactions")
@click.argument("csv_file", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="check every row, load nothing")
def central_import_transactions(csv_file: str, dry_run: bool) -> None:
    """Load customers' purchases from a previous system (CSV: customer,date,quantity,amount
    and optionally store,product); all rows or none, and the same file only once."""
    from pathlib import Path

    from kassa.central.reporting.history_import import import_history
    from kassa.common.money import format_minor
    steps = _Steps()
    with central_work() as session:
        report = import_history(session, Path(csv_file).read_bytes(), dry_run=dry_run,
                                steps=steps)
        if report.written:
            steps("committing")
    steps.done()
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


@central.command("import-customers")
@click.argument("csv_file", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="check every row, load nothing")
@click.option("--skip-bad", is_flag=True,
              help="load the good rows and list the bad ones (default: all or nothing)")
def central_import_customers(csv_file: str, dry_run: bool, skip_bad: bool) -> None:
    """Open members from a previous system's export (CSV: name, and any of phone, email,
    birthday, home_store, card_number, points, consents); the same file only once."""
    from pathlib import Path

    from kassa.central.crm.customer_imports import import_customers
    data = Path(csv_file).read_bytes()
    lines = max(data.count(b"\n"), 1)  # a little more than the rows: the header, blank lines
    with click.progressbar(length=lines, label="checking" if dry_run else "importing",
                           file=sys.stderr) as bar:
        def progress(rows: int) -> None:
            bar.update(rows - bar.pos)

        with central_work() as session:
            report = import_customers(session, data, skip_bad=skip_bad, dry_run=dry_run,
                                      progress=progress)
            bar.label = "committing"
            bar.update(lines - bar.pos)
    if report.ignored_columns:
        click.echo(f"note: columns ignored: {', '.join(report.ignored_columns)}", err=True)
    for e in report.errors:
        click.echo(f"line {e['line']}, {e['field'] or 'row'}: {e['message']}", err=True)
    more = report.errors_total - len(report.errors)
    if more:
        click.echo(f"... and {more} more", err=True)
    problems = (f"{_count(report.errors_total, 'problem')} in "
                f"{_count(report.bad_rows, 'row')}")
    if report.errors_total and (report.unreadable or not skip_bad):
        click.echo(f"{problems}; nothing loaded", err=True)
        sys.exit(1)
    if report.already_imported:
        click.echo(f"already imported {report.imported_at:%Y-%m-%d %H:%M} UTC "
                   f"({report.rows} rows); nothing changed")
    elif dry_run:
        click.echo(f"checked {report.rows} rows: {report.rows - report.bad_rows} members to "
                   f"open; nothing loaded (--dry-run)")
    else:
        skipped = f"; {problems} skipped" if report.errors_total else ""
        click.echo(f"opened {report.created} members with {report.points} points "
                   f"(batch {report.batch[:12]}){skipped}")


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
        fail(KassaError("KASSA_WAREHOUSE is off: there is no warehouse."))
    db = Database(config.db_url)
    try:
        click.echo(json.dumps(work(db, config.warehouse_path), default=str))
    except (Busy, OtherCentral) as err:
        fail(err)
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
@click.option("--horizon-days", type=click.IntRange(1, 3660), default=90, show_default=True,
              help="the purchases each customer is expected to make over this many days")
def warehouse_analyze(as_of, horizon_days: int) -> None:
    """Refresh, then RFM segments, lifetime value and offers, sent back to central; the
    lifetime run (its fitted parameters and log-likelihoods) is kept in the warehouse."""
    from kassa.central.reporting.warehouse import analytics
    steps = _Steps()
    try:
        _warehouse_run(lambda db, path: analytics.analyze(
            db, path, as_of.date() if as_of else None, horizon_days, step=steps))
    finally:
        steps.done()


@central.group("quarantine")
def central_quarantine() -> None:
    """Events central could not apply: list, replay after repair, or discard."""


@central_quarantine.command("list")
@click.option("--node", "node_id", default=None)
@click.option("--status", default="held", show_default=True,
              type=click.Choice(["held", "replayed", "discarded"]))
def quarantine_list(node_id: str | None, status: str) -> None:
    from kassa.central.replication import quarantine
    with central_work() as session:
        for e in quarantine.held(session, node_id, status):
            click.echo(f"{e.id:>6} {e.node_id:<10} seq {e.seq:<8} {e.kind:<18} {e.reason:<24} "
                       f"{e.message}")


@central_quarantine.command("show")
@click.argument("event_id", type=int)
def quarantine_show(event_id: int) -> None:
    """The event's payload as JSON (edit it and pass it to `replay --payload`)."""
    from kassa.central.models import QuarantinedEvent
    with central_work() as session:
        event = session.get(QuarantinedEvent, event_id)
        if event is None:
            fail(KassaError(f"No quarantined event {event_id}.", code="quarantine_not_found"))
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
    with central_work() as session:
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
    with central_work() as session:
        event = quarantine.discard(session, event_id, actor, reason)
    click.echo(f"discarded {event.node_id} seq {event.seq} ({event.kind})")


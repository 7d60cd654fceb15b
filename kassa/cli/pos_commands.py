"""``kassa pos ...``: serve a till, set one up and enrol it, sync it now, rotate its key, and
restore it from its backup. A Flask CLI group, so ``routes`` and ``shell`` work too."""

from __future__ import annotations

import json

import click

from kassa.cli.apps import (
    AppGroup,
    fail,
    pos_app,
    safe_url,
    serving_pos_app,
)
from kassa.common.config import NodeConfig
from kassa.common.db import Database
from kassa.common.errors import KassaError


@click.group(cls=AppGroup, create_app=pos_app,
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
    serve(serving_pos_app, host, port, 1, threads, "kassa-pos")


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
        fail(err)
    click.echo(f"node {node_id} enrolled with {central_url}; database {safe_url(config.db_url)}")


def _initialised_node(config: NodeConfig) -> Database:
    """The node's database, or a clear refusal when `kassa pos init` never made it."""
    from sqlalchemy import inspect, text
    db = Database(config.db_url)
    with db.engine.connect() as conn:
        ready = inspect(conn).has_table("node_identity") and conn.execute(
            text("SELECT count(*) FROM node_identity")).scalar()
    if not ready:
        db.dispose()
        fail(KassaError(f"No node is set up in {safe_url(config.db_url)}: run `kassa pos init` "
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
        fail(err)
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
        fail(err)
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
    from pathlib import Path

    from kassa.pos_node.replication.client import SyncError
    from kassa.pos_node.replication.restore import restore_node, verify_copy
    config = NodeConfig.from_env()
    replica = replica or (config.backup.replica_url if config.backup else None)
    if not replica:
        fail(KassaError("No replica: KASSA_BACKUP is off; pass --replica URL.",
                         code="no_replica"))
    try:
        if output:
            report = verify_copy(replica, Path(output), timestamp)
        else:
            report = restore_node(config.db_url, replica, config.http_timeout, timestamp, force)
    except (KassaError, SyncError) as err:
        fail(err)
    click.echo(json.dumps(report, indent=2, default=str))


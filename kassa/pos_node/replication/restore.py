"""Rebuilding a till whose disk was lost, from its Litestream replica (``kassa pos restore``).

Litestream's replica ends at some moment T (about a second behind the till while it ran).
Central holds the till's events up to its high-water mark M, and knows the newest seq the till
last reported, L. The copy holds events up to N. So after a restore:

- events N+1..M are at central and not in the copy: nothing is lost, the till only goes on
  after them (its next event is M+1, so central sees no gap and no seq twice);
- events max(N, M)+1..L were made and reported but are neither at central nor in the copy:
  they are lost, and said so by seq;
- events after L made before the loss are lost too, and no record of them survives: the bound
  is the moment T plus Litestream's sync interval, unless they had been pushed.

A customer may hold a paper receipt of a lost sale, so the receipt and return numbers go on
``NUMBER_GAP`` past the highest either side knows, never reusing one. The restore is made in a
separate file and moved into place only when central has answered and the copy is ready, so a
failure half-way leaves the node as it was.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import select, update

from kassa.common.db import Database, utcnow
from kassa.common.errors import Conflict, KassaError
from kassa.common.storage import backup
from kassa.common.storage.migrate import upgrade
from kassa.pos_node.models import MIGRATIONS, Counter, OutboxEvent, Sale
from kassa.pos_node.replication.client import client_for
from kassa.sync.protocol import RestoredAnswerSchema

NUMBER_GAP = 1000


def restore_node(db_url: str, replica_url: str, timeout: float = 10.0,
                 timestamp: str | None = None, force: bool = False) -> dict:
    """Rebuild the node's database at ``db_url`` from ``replica_url``; returns the report."""
    path = backup.sqlite_path(db_url)
    if path is None:
        raise KassaError("A node's database is an SQLite file.", code="not_sqlite")
    if path.exists() and not force:
        raise Conflict("%(path)s exists: a restore replaces a lost database. Stop the till "
                       "and pass --force to move the existing file aside first.",
                       code="node_db_exists", path=path)
    work = path.with_name(path.name + ".restoring")
    _remove(work)
    try:
        restored = backup.restore(replica_url, work, timestamp)
    except backup.BackupError as err:
        raise KassaError("Litestream could not restore from %(replica_url)s: %(reason)s",
                         code="restore_failed", replica_url=replica_url,
                         reason=str(err)) from err
    try:
        report = _resume(f"sqlite:///{work}", restored, timeout)
    except BaseException:
        _remove(work)
        raise
    moved = _move_aside(path) if path.exists() else None
    _remove(backup.meta_dir(path))  # Litestream's state of the lost file: start afresh
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{work}{suffix}").exists():
            os.replace(f"{work}{suffix}", f"{path}{suffix}")
    return {**report, "database": str(path), "moved_aside": moved}


def verify_copy(replica_url: str, into: Path, timestamp: str | None = None) -> dict:
    """Restore a copy elsewhere (a drill: the till is not touched, central not asked) and say
    how far it reaches."""
    if into.exists():
        raise Conflict("%(path)s exists.", code="output_exists", path=into)
    try:
        restored = backup.restore(replica_url, into, timestamp)
    except backup.BackupError as err:
        raise KassaError("Litestream could not restore from %(replica_url)s: %(reason)s",
                         code="restore_failed", replica_url=replica_url,
                         reason=str(err)) from err
    with sqlite3.connect(into) as conn:
        check = conn.execute("PRAGMA integrity_check").fetchall()
        local = _position_of(conn)
    return {"output": str(into), "replica_at": restored.replica_at, "txid": restored.txid,
            "integrity_check": [row[0] for row in check], **local}


def _position_of(conn: sqlite3.Connection) -> dict:
    counters = dict(conn.execute("SELECT name, value FROM counters"))
    receipt = conn.execute("SELECT max(receipt_no) FROM sales").fetchone()[0]
    return {"seq": counters.get("outbox_seq", 0), "last_receipt_no": receipt}


def _resume(work_url: str, restored: backup.Restored, timeout: float) -> dict:
    upgrade(MIGRATIONS, work_url)  # a copy from before an upgrade
    db = Database(work_url)
    try:
        with db.read() as session:
            counters = dict(session.execute(select(Counter.name, Counter.value)).all())
            last_receipt = session.scalar(select(Sale.receipt_no)
                                          .order_by(Sale.receipt_no.desc()).limit(1))
        seq = counters.get("outbox_seq", 0)
        with client_for(db, timeout) as client:
            answer = client.request("POST", "/api/v1/sync/restored", {
                "node_id": client.node_id, "restored_seq": seq,
                "replica_at": restored.replica_at, "last_receipt_no": last_receipt},
                expect=RestoredAnswerSchema())
        with db.transaction() as session:
            numbers = continue_after(session, answer)
    finally:
        db.dispose()
    with sqlite3.connect(work_url.removeprefix("sqlite:///")) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # one file to move into place
    return _report(restored, seq, answer, numbers, last_receipt)


def continue_after(session, central: dict) -> dict:
    """Go on after what central holds of this node (``high_water``, its newest receipt and
    return numbers): the next event is the one after central's mark, and receipt and return
    numbers skip ``NUMBER_GAP`` past the highest either side knows. Returns the counters."""
    counters = dict(session.execute(select(Counter.name, Counter.value)).all())
    high_water = central["high_water"]
    numbers = {
        "receipt": max(counters.get("receipt", 0), _number(central["last_receipt_no"]))
        + NUMBER_GAP,
        "return": max(counters.get("return", 0), _number(central["last_return_no"]))
        + NUMBER_GAP,
        "outbox_seq": max(counters.get("outbox_seq", 0), high_water)}
    for name, value in numbers.items():
        session.merge(Counter(name=name, value=value))
    # What central holds needs no sending again (it would be skipped there anyway).
    session.execute(update(OutboxEvent).where(OutboxEvent.seq <= high_water,
                                              OutboxEvent.acked_at.is_(None))
                    .values(acked_at=utcnow()))
    return numbers


def _report(restored: backup.Restored, seq: int, answer: dict, numbers: dict,
            last_receipt: str | None) -> dict:
    high_water, reported = answer["high_water"], answer["node_seq"] or 0
    known_lost = list(range(max(seq, high_water) + 1, reported + 1))
    return {
        "replica_at": restored.replica_at, "txid": restored.txid,
        "restored_seq": seq, "central_high_water": high_water,
        "central_node_seq": answer["node_seq"],
        "central_reported_at": answer["reported_at"] and answer["reported_at"].isoformat(),
        "at_central_not_in_copy": [seq + 1, high_water] if high_water > seq else None,
        "lost_seqs": known_lost,
        "last_known_receipt_no": max(filter(None, (last_receipt, answer["last_receipt_no"])),
                                     default=None),
        "next_receipt_number": numbers["receipt"] + 1,
        "next_seq": numbers["outbox_seq"] + 1,
        "restored_at": datetime.now(timezone.utc).isoformat(),
    }


def _number(document_no: str | None) -> int:
    """``pos-1-00000042`` -> 42, ``pos-1-R00000003`` -> 3; 0 for none."""
    if not document_no:
        return 0
    return int(document_no.rsplit("-", 1)[1].lstrip("R") or 0)


def _move_aside(path: Path) -> str:
    """The damaged database and its WAL, kept for a post-mortem, never deleted."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.lost-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{path}{suffix}").exists():
            os.replace(f"{path}{suffix}", f"{aside}{suffix}")
    return str(aside)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
        return
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)

"""The POS node's Flask app factory: local database, till API, cashier UI, receipts."""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask import Flask, g, jsonify
from sqlalchemy import func, select

from kassa.common import i18n
from kassa.common.config import NodeConfig
from kassa.common.db import Database, utcnow
from kassa.common.runtime import observability
from kassa.common.storage import backup
from kassa.common.web import make_api
from kassa.pos_node.cards.card_reader import CardReader
from kassa.pos_node.models import NodeIdentity, OutboxEvent, Store


def create_app(config: NodeConfig | None = None) -> Flask:
    config = config or NodeConfig.from_env()
    app = Flask("kassa.pos_node")
    app.config["KASSA"] = config
    app.config["MAX_CONTENT_LENGTH"] = 2 * 1024 * 1024
    app.config.update(SESSION_COOKIE_SAMESITE="Strict", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_NAME="kassa_till",
                      PERMANENT_SESSION_LIFETIME=timedelta(hours=14))
    # With Litestream watching the file, it alone checkpoints (kassa.common.storage.backup).
    db = Database(config.db_url, checkpoints=config.backup is None)
    app.extensions["kassa_db"] = db
    app.secret_key = _session_secret(db)

    # Started by ``kassa pos serve`` (and tests that want it): it watches the reader.
    app.extensions["kassa_card_reader"] = CardReader(db, config.card_reader or None)
    api = make_api(app, "kassa POS node")
    i18n.init_app(app, lambda: _store_language(db)[0], lambda: _store_language(db)[1])
    observability.init_app(app, "pos", observability.NodeCollector(db, config.sync_interval))
    from kassa.pos_node.screens import approvals_api, card_api, display_api, sales_api, till_api, ui
    api.register_blueprint(till_api.bp)
    api.register_blueprint(approvals_api.bp)
    api.register_blueprint(sales_api.bp)
    api.register_blueprint(card_api.bp)
    api.register_blueprint(display_api.bp)
    app.register_blueprint(ui.bp)

    @app.get("/health")
    def health():
        # Selling goes on whatever the backup does: its alarm is shown, not a failure.
        return jsonify(status="ok", app="pos", backup=backup.read_state(
            backup.sqlite_path(config.db_url)))

    @app.get("/api/v1/status")
    def status():
        return jsonify(node_status(db, config.sync_interval))

    return app


def _session_secret(db: Database) -> str:
    """The node's cookie secret, made once and kept in its database (survives restarts)."""
    try:
        with db.transaction() as session:
            node = session.scalars(select(NodeIdentity)).first()
            if node is None:
                return secrets.token_hex(32)  # not enrolled: nobody can sign in anyway
            if not node.session_secret:
                node.session_secret = secrets.token_hex(32)
            return node.session_secret
    except Exception:  # noqa: BLE001 - a database not migrated yet: the app says so per request
        return secrets.token_hex(32)


def _store_language(db: Database) -> tuple[str | None, str | None]:
    """The till's store's language and currency, read once a request (none before set-up)."""
    if "kassa_store_language" not in g:
        try:
            with db.read() as session:
                row = session.execute(select(Store.locale, Store.currency).join(
                    NodeIdentity, NodeIdentity.store_id == Store.id)).first()
        except Exception:  # noqa: BLE001 - a database not migrated yet: English, say so later
            row = None
        g.kassa_store_language = (row[0], row[1]) if row else (None, None)
    return g.kassa_store_language


def node_status(db: Database, sync_interval: float) -> dict:
    """What the till's badge shows: online or not, and how many events wait to go up."""
    with db.transaction() as session:
        node = session.scalars(select(NodeIdentity)).first()
        unsent = session.scalar(select(func.count()).select_from(OutboxEvent)
                                .where(OutboxEvent.acked_at.is_(None)))
    if node is None:
        return {"initialized": False, "online": False, "pending_events": unsent}
    fresh = timedelta(seconds=max(60.0, 3 * sync_interval))
    online = (node.last_contact_at is not None and node.last_sync_error is None
              and utcnow() - node.last_contact_at < fresh)
    state, label = sync_state(node, online)
    return {
        "initialized": True, "node_id": node.node_id, "store_id": node.store_id,
        "central_url": node.central_url, "feed_cursor": node.feed_cursor,
        "pending_events": unsent, "online": online, "state": state, "state_label": label,
        "clock_skew_seconds": node.clock_skew_seconds,
        "last_contact_at": node.last_contact_at and node.last_contact_at.isoformat(),
        "last_push_at": node.last_push_at and node.last_push_at.isoformat(),
        "last_pull_at": node.last_pull_at and node.last_pull_at.isoformat(),
        "last_sync_error": node.last_sync_error,
        "backup": backup.read_state(backup.sqlite_path(db.url)),
    }


def sync_state(node: NodeIdentity, online: bool) -> tuple[str, str]:
    """The badge: ``online``, ``offline``, or why central refuses this till (which the cashier
    cannot fix, but the manager should call about): its clock is off, or its key is not
    trusted. Selling goes on in every state."""
    code = node.sync_error_code
    if code == "clock_skew":
        skew = node.clock_skew_seconds or 0
        hours = abs(skew) / 3600
        off = f"{hours:.0f} h" if hours >= 1 else f"{abs(skew)} s"
        return "clock_skew", f"clock skew: {off} {'ahead' if skew > 0 else 'behind'}"
    if code in ("unknown_node", "bad_signature", "replayed_request"):
        return "refused", "refused by central"
    return ("online", "online") if online else ("offline", "offline")

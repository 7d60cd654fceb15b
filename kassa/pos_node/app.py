"""The POS node's Flask app factory: local database, till API, cashier UI, receipts."""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask import Flask, g, jsonify
from sqlalchemy import select

from kassa.common import i18n
from kassa.common.config import NodeConfig
from kassa.common.db import Database
from kassa.common.runtime import observability
from kassa.common.storage import backup
from kassa.common.web import make_api
from kassa.pos_node.cards.card_reader import CardReader
from kassa.pos_node.devices import print_queue
from kassa.pos_node.devices.atol import AtolRegister
from kassa.pos_node.devices.fiscal import FiscalRegister, RegisterWatch
from kassa.pos_node.devices.print_worker import PrintWorker
from kassa.pos_node.models import NodeIdentity, Store
from kassa.pos_node.replication.status import NodeCollector, node_status


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
    app.extensions["kassa_fiscal"] = register = fiscal_register(config.fiscal,
                                                                 config.http_timeout)
    if register is not None:  # its state for the badge; asked by ``kassa pos serve``
        app.extensions["kassa_fiscal_watch"] = RegisterWatch(register)
    if config.printer is not None:
        # Started by ``kassa pos serve`` too; until then jobs wait in the queue.
        worker = app.extensions["kassa_printer"] = PrintWorker(db, config.printer)
        print_queue.enable(db, worker.wake)
    api = make_api(app, "kassa POS node")
    i18n.init_app(app, lambda: _store_language(db)[0], lambda: _store_language(db)[1],
                  scripts="pos_node")
    observability.init_app(app, "pos", NodeCollector(db, config.sync_interval), timed={
        ("sales.Checkout", "POST"): observability.CHECKOUT_SECONDS,
        ("sales.Sales", "POST"): observability.CHECKOUT_SECONDS,
        ("authorization.Ask", "POST"): observability.AUTHORIZATION_SECONDS})
    from kassa.pos_node.screens import (
        approvals_api,
        card_api,
        devices_api,
        display_api,
        members_api,
        sales_api,
        signed_in,
        till_api,
        ui,
    )
    app.before_request(signed_in.refuse_forged_changes)
    api.register_blueprint(till_api.bp)
    api.register_blueprint(approvals_api.bp)
    api.register_blueprint(sales_api.bp)
    api.register_blueprint(card_api.bp)
    api.register_blueprint(members_api.bp)
    api.register_blueprint(display_api.bp)
    api.register_blueprint(devices_api.bp)
    app.register_blueprint(ui.bp)

    @app.get("/health")
    def health():
        # Selling goes on whatever the backup does: its alarm is shown, not a failure.
        return jsonify(status="ok", app="pos", backup=backup.read_state(
            backup.sqlite_path(config.db_url)))

    @app.get("/api/v1/status")
    def status():
        return jsonify({**node_status(db, config.sync_interval),
                        "printer": devices_api.printer_status(),
                        "fiscal": devices_api.fiscal_status()})

    return app


def fiscal_register(setting: str | None, timeout: float) -> FiscalRegister | None:
    """The register ``KASSA_FISCAL`` names, or None (``off``, empty): no fiscal register,
    receipts say they are not fiscal documents."""
    value = (setting or "off").strip()
    if value in ("", "off"):
        return None
    if value.startswith(("atol+http://", "atol+https://")):
        return AtolRegister(value.removeprefix("atol+"), timeout=timeout)
    raise ValueError(f"KASSA_FISCAL: unknown register {value!r} "
                     "(use 'off' or 'atol+http://host:16732')")


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

"""Central's Flask app factory: configuration, database, blueprints, OpenAPI."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta

from flask import Flask, jsonify, request, session
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from kassa.central.access import region_wall
from kassa.central.replication.node_status import CentralCollector
from kassa.common import i18n
from kassa.common.config import CentralConfig
from kassa.common.db import Database
from kassa.common.runtime import observability
from kassa.common.storage import backup
from kassa.common.storage.private import private_dir
from kassa.common.web import make_api


def create_app(config: CentralConfig | None = None) -> Flask:
    config = config or CentralConfig.from_env()
    app = Flask("kassa.central")
    app.config["KASSA"] = config
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024 * 1024
    if config.trusted_proxies:  # the client's address and scheme as the TLS proxy saw them
        # Flask's documented way to add WSGI middleware; its types declare wsgi_app a method.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=config.trusted_proxies, x_proto=config.trusted_proxies)
    db = Database(config.db_url, checkpoints=config.backup is None)
    app.extensions["kassa_db"] = db
    region_wall.install(db)
    app.secret_key = _secret_key(config)
    app.session_interface = _SessionInterface()
    app.config.update(SESSION_COOKIE_NAME="kassa_central", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Strict",
                      SESSION_COOKIE_SECURE=config.secure_cookies,
                      PERMANENT_SESSION_LIFETIME=timedelta(hours=10),
                      # The cookie is sent only when the session changes: a page's reads in
                      # flight would otherwise answer with the session as it was and undo a
                      # change made meanwhile (a language chosen). 10 hours from sign-in.
                      SESSION_REFRESH_EACH_REQUEST=False)

    api = make_api(app, "kassa central")
    i18n.init_app(app, _language, scripts="central")
    observability.init_app(app, "central", CentralCollector(db), timed={
        ("authorizations.Requests", "POST"): observability.AUTHORIZATION_SECONDS,
        ("authorizations.Decision", "POST"): observability.AUTHORIZATION_SECONDS})
    from kassa.central.access import (
        account_api,
        audit_api,
        authorizations_api,
        role_limits_api,
        users_api,
    )
    from kassa.central.catalog import (
        prices_api,
        products_api,
        promotions_api,
        regions_api,
        stores_api,
        vat_rates_api,
    )
    from kassa.central.crm import company_api, customers_api, interactions_api, tasks_api
    from kassa.central.membership import (
        cards_api,
        holds_api,
        loyalty_rules_api,
        points_api,
    )
    from kassa.central.replication import nodes_api, operations_api, sync_api
    from kassa.central.reporting import (
        analytics_api,
        history_api,
        manager_reports,
        operational_reports,
    )
    from kassa.central.selfservice import my_account_api as selfservice_api
    for blueprint in (sync_api.bp, nodes_api.bp, operational_reports.bp, operations_api.bp,
                      holds_api.bp, authorizations_api.bp, account_api.bp, audit_api.bp,
                      cards_api.bp, products_api.bp, stores_api.bp, prices_api.bp,
                      users_api.bp, regions_api.bp, role_limits_api.bp, company_api.bp,
                      promotions_api.bp, loyalty_rules_api.bp, customers_api.bp,
                      interactions_api.bp, tasks_api.bp, manager_reports.bp, history_api.bp,
                      analytics_api.bp, selfservice_api.bp, vat_rates_api.bp, points_api.bp):
        api.register_blueprint(blueprint)
    from kassa.central import pages
    app.register_blueprint(pages.bp)
    app.register_blueprint(pages.my)

    @app.get("/health")
    def health():
        with db.transaction() as session:
            session.connection().exec_driver_sql("SELECT 1")
        # Public: the backup's state only, not its replica or errors (the ops pages have those).
        state = backup.read_state(backup.sqlite_path(db.url))["state"]
        return jsonify(status="ok", app="central", database=db.engine.dialect.name,
                       backup=state)

    return app


def _language() -> str | None:
    """``?lang=`` (kept for the session), else the session's (a staff user's own setting,
    put there at sign-in), else None: the browser's."""
    asked = request.args.get("lang")
    if asked in i18n.LOCALES:
        session["lang"] = asked
        return asked
    return session.get("lang")


class _SessionInterface(SecureCookieSessionInterface):
    """The session cookie is Secure whenever the request came over HTTPS (or always, when
    configured so)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def _secret_key(config: CentralConfig) -> str:
    """``KASSA_SECRET_KEY``, else the key file (made on first use, mode 0600), else a fresh
    secret for this process only."""
    if os.environ.get("KASSA_SECRET_KEY"):
        return os.environ["KASSA_SECRET_KEY"]
    path = config.secret_key_file
    if path is None:
        return secrets.token_hex(32)
    if not path.exists():
        private_dir(path.parent)
        temp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(temp, path)  # whole or not at all; another worker may have won
        except FileExistsError:
            pass
        finally:
            temp.unlink()
    return path.read_text().strip()

"""Central's Flask app factory: configuration, database, blueprints, OpenAPI."""

from __future__ import annotations

from flask import Flask, jsonify

from kassa.common.config import CentralConfig
from kassa.common.db import Database
from kassa.common.web import make_api


def create_app(config: CentralConfig | None = None) -> Flask:
    config = config or CentralConfig.from_env()
    app = Flask("kassa.central")
    app.config["KASSA"] = config
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024 * 1024
    db = Database(config.db_url)
    app.extensions["kassa_db"] = db

    api = make_api(app, "kassa central")
    from kassa.central import (
        authorizations_api,
        loyalty_api,
        nodes_api,
        operations_api,
        reports,
        sync_api,
    )
    for blueprint in (sync_api.bp, nodes_api.bp, reports.bp, operations_api.bp,
                      loyalty_api.bp, authorizations_api.bp):
        api.register_blueprint(blueprint)
    from kassa.central import ui
    app.register_blueprint(ui.bp)

    @app.get("/health")
    def health():
        with db.transaction() as session:
            session.connection().exec_driver_sql("SELECT 1")
        return jsonify(status="ok", app="central", database=db.engine.dialect.name)

    return app

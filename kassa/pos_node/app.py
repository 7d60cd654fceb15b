"""The POS node's Flask app factory: local database, sale API, status, OpenAPI."""

from __future__ import annotations

from flask import Flask, jsonify
from sqlalchemy import func, select

from kassa.common.config import NodeConfig
from kassa.common.db import Database
from kassa.common.web import make_api


def create_app(config: NodeConfig | None = None) -> Flask:
    config = config or NodeConfig.from_env()
    app = Flask("kassa.pos_node")
    app.config["KASSA"] = config
    app.config["MAX_CONTENT_LENGTH"] = 2 * 1024 * 1024
    db = Database(config.db_url)
    app.extensions["kassa_db"] = db

    api = make_api(app, "kassa POS node")
    from kassa.pos_node import sales_api
    api.register_blueprint(sales_api.bp)

    @app.get("/health")
    def health():
        return jsonify(status="ok", app="pos")

    @app.get("/api/v1/status")
    def status():
        from kassa.pos_node.models import NodeIdentity, OutboxEvent
        with db.transaction() as session:
            node = session.scalars(select(NodeIdentity)).first()
            unsent = session.scalar(select(func.count()).select_from(OutboxEvent)
                                    .where(OutboxEvent.acked_at.is_(None)))
        if node is None:
            return jsonify(initialized=False, pending_events=unsent)
        return jsonify(initialized=True, node_id=node.node_id, store_id=node.store_id,
                       central_url=node.central_url, feed_cursor=node.feed_cursor,
                       pending_events=unsent,
                       last_push_at=node.last_push_at and node.last_push_at.isoformat(),
                       last_pull_at=node.last_pull_at and node.last_pull_at.isoformat(),
                       last_sync_error=node.last_sync_error)

    return app

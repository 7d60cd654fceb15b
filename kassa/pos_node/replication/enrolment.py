"""Setting up a new node: migrate its database, make its key, enrol it with central."""

from __future__ import annotations

import secrets

import requests
from sqlalchemy import select

from kassa.common.db import Database
from kassa.common.errors import Conflict, KassaError
from kassa.common.signing import generate_private_key_pem, public_key_pem
from kassa.common.storage.migrate import upgrade
from kassa.pos_node.models import MIGRATIONS, NodeIdentity


def init_node(db_url: str, node_id: str, central_url: str, enroll_code: str,
              timeout: float = 10.0) -> NodeIdentity:
    """Idempotent for the schema; refuses to re-enrol a database that already has an identity.
    A node central already holds events of (re-enrolled with ``kassa central reenroll-node``)
    starts its seqs and receipt numbers after them."""
    upgrade(MIGRATIONS, db_url)
    db = Database(db_url)
    try:
        with db.transaction() as session:
            existing = session.scalars(select(NodeIdentity)).first()
            if existing is not None:
                raise Conflict("This database already belongs to node %(node_id)s.",
                               code="already_initialized", node_id=existing.node_id)
        key = generate_private_key_pem()
        try:
            resp = requests.post(central_url.rstrip("/") + "/api/v1/nodes/enroll", json={
                "node_id": node_id, "code": enroll_code,
                "public_key_pem": public_key_pem(key)}, timeout=timeout)
        except requests.RequestException as err:
            raise KassaError("Central at %(central_url)s is unreachable: %(reason)s",
                             code="central_unreachable", status=503, central_url=central_url,
                             reason=str(err)) from err
        body = resp.json() if resp.headers.get("Content-Type", "").startswith(
            "application/json") else {}
        if resp.status_code != 200:
            code = body.get("error", "enrollment_failed")
            if "message" in body:  # central's own refusal, as it worded it
                raise KassaError(body["message"], code=code, status=resp.status_code)
            raise KassaError("enrolment failed: HTTP %(http_status)s", code=code,
                             status=resp.status_code, http_status=resp.status_code)
        with db.transaction() as session:
            node = NodeIdentity(node_id=node_id, store_id=body["store_id"],
                                central_url=central_url, private_key_pem=key, feed_cursor=0,
                                session_secret=secrets.token_hex(32))
            session.add(node)
            if body.get("high_water"):
                # A re-enrolled node on a new database (its disk and its backup lost): go on
                # after what central holds, so central sees no seq twice and no receipt number
                # a customer holds is issued again.
                from kassa.pos_node.replication.restore import continue_after
                continue_after(session, body)
        return node
    finally:
        db.dispose()

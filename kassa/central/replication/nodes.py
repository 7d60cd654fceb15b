"""Nodes as central knows them: registration with a one-time enrolment code, the node's public
key (enrolment, rotation with a grace period, revocation, re-enrolment), each change versioned in
the change feed.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy.orm import Session

from kassa.central.access import audit
from kassa.central.catalog.stores import store_by_code
from kassa.central.models import Node, Store, User
from kassa.central.replication.feed import record_change
from kassa.common.db import utcnow
from kassa.common.errors import Conflict, Invalid, NotFound, Unauthorized
from kassa.common.passwords import hash_secret, verify_secret
from kassa.common.signing import load_public_key

ENROLL_CODE_TTL = timedelta(days=7)


def add_node(session: Session, node_id: str, store: Store) -> str:
    """Register a node and return its one-time enrolment code (only its hash is kept)."""
    if session.get(Node, node_id) is not None:
        raise Conflict("Node %(node_id)s exists already.", code="duplicate_node", node_id=node_id)
    code = secrets.token_urlsafe(18)
    session.add(Node(id=node_id, store_id=store.id, enroll_code_hash=hash_secret(code),
                     enroll_expires_at=utcnow() + ENROLL_CODE_TTL, high_water=0, active=True))
    session.flush()
    return code


def enroll_node(session: Session, node_id: str, code: str, public_key_pem: str) -> Node:
    """Trade a one-time code for a registered public key; the code cannot be used again."""
    node = session.get(Node, node_id, with_for_update=True)
    # enroll_expires_at is set and cleared together with enroll_code_hash.
    pending = node is not None and node.enroll_code_hash is not None \
        and cast(datetime, node.enroll_expires_at) >= utcnow()
    # One argon2 check whatever the node: the time does not tell which have a code pending.
    right = verify_secret(node.enroll_code_hash if node is not None and pending else None, code)
    if node is None or not right:
        raise Unauthorized("Unknown node or invalid enrolment code.", code="enrollment_refused")
    try:
        load_public_key(public_key_pem)
    except ValueError as err:
        raise Invalid("Public key refused: %(reason)s", code="bad_public_key",
                      reason=str(err)) from err
    node.public_key_pem = public_key_pem
    node.enroll_code_hash = None
    node.enroll_expires_at = None
    node.enrolled_at = utcnow()
    _node_changed(session, node)
    return node


def rotate_node_key(session: Session, node_id: str, public_key_pem: str,
                    grace_seconds: int) -> Node:
    """Replace a node's key (the request was signed with its current key). The old key keeps
    verifying for ``grace_seconds`` so requests in flight still pass; sending the same new key
    again (a lost answer) changes nothing."""
    node = session.get(Node, node_id, with_for_update=True)
    assert node is not None  # the request was signed by this node (auth.node_signed)
    if node.public_key_pem == public_key_pem:
        return node
    try:
        load_public_key(public_key_pem)
    except ValueError as err:
        raise Invalid("Public key refused: %(reason)s", code="bad_public_key",
                      reason=str(err)) from err
    node.previous_public_key_pem = node.public_key_pem
    node.previous_key_until = utcnow() + timedelta(seconds=grace_seconds)
    node.public_key_pem = public_key_pem
    _node_changed(session, node)
    return node


def revoke_node(session: Session, node_id: str) -> Node:
    """Stop accepting the node's requests at once (its till keeps selling offline; re-enrol it
    with ``add-node --reenroll`` to bring it back)."""
    node = session.get(Node, node_id, with_for_update=True)
    if node is None:
        raise NotFound("No node %(node_id)s.", code="node_not_found", node_id=node_id)
    node.active = False
    node.revoked_at = utcnow()
    node.previous_public_key_pem = node.previous_key_until = None
    _node_changed(session, node)
    return node


def reenroll_node(session: Session, node_id: str) -> str:
    """A new one-time code for an existing node (a revoked one, or one whose disk was lost);
    its seq history at central stays, so it resumes where central's high-water mark is."""
    node = session.get(Node, node_id, with_for_update=True)
    if node is None:
        raise NotFound("No node %(node_id)s.", code="node_not_found", node_id=node_id)
    code = secrets.token_urlsafe(18)
    node.enroll_code_hash, node.enroll_expires_at = hash_secret(code), utcnow() + ENROLL_CODE_TTL
    node.active, node.revoked_at = True, None
    node.public_key_pem = node.previous_public_key_pem = node.previous_key_until = None
    _node_changed(session, node)
    return code


def _node_changed(session: Session, node: Node) -> None:
    """Node keys are master data too: every enrolment, rotation and revocation is versioned in
    the feed (a tombstone when the node stops being trusted)."""
    session.flush()
    record_change(session, "node", node.id,
                  {"id": node.id, "store_id": node.store_id, "public_key_pem": node.public_key_pem}
                  if node.active and node.public_key_pem else None)


def register_node(session: Session, actor: User, node_id: str, store_code: str) -> dict:
    """Register a till for a store (audited); answers its one-time enrolment code."""
    store = store_by_code(session, store_code)
    code = add_node(session, node_id, store)
    audit.change(session, actor.id, "node", node_id, None,
                 {"node_id": node_id, "store_code": store.code})
    return {"node_id": node_id, "store_code": store.code, "enroll_code": code}


def new_enrolment_code(session: Session, actor: User, node_id: str) -> dict:
    """A new one-time code for a revoked node or one rebuilt from scratch (audited)."""
    code = reenroll_node(session, node_id)
    node = session.get(Node, node_id)
    assert node is not None  # reenroll_node found it, or raised NotFound
    store_code = node.store.code
    audit.record(session, "node_reenrolled", f"node {node_id}", actor_id=actor.id)
    return {"node_id": node_id, "store_code": store_code, "enroll_code": code}

"""Personal offers: made from the basket rules the warehouse mines, sent to the tills through
the change feed with each consenting customer's offer profile.

An offer is kept per rule (``rule_key``): a rule that still holds updates its offer, one that no
longer does switches it off, so an offer's id (what exposures and sale lines point at) stays
the same across runs. Cross-sell offers are for every segment; up-sell offers (a dearer product
of the same category) only for the segments that buy often and lately, where a better product
is the point rather than a first repeat visit.

A customer's offer profile (segment, consent, hold-out group) reaches the tills only when they
consented to personal offers; withdrawing the consent sends a tombstone. The hold-out group is
a stable share of customers (by a hash of their id) who get no offer, so the offers' uplift
can be measured against them.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from kassa.central.access import audit
from kassa.central.models import Consent, Customer, CustomerScore, Offer, OfferSettings, User
from kassa.central.replication.feed import record_change, record_changes
from kassa.common.db import utcnow

UPSELL_SEGMENTS = ["Champions", "Loyal", "Potential loyalists", "Can't lose them"]


def settings(session: Session) -> OfferSettings:
    return session.get(OfferSettings, 1) or OfferSettings(
        id=1, discount_bp=1000, holdout_bp=1000, min_support_bp=10, min_confidence_bp=2000,
        min_lift_bp=12000, max_offers=500)


SETTINGS = ("discount_bp", "holdout_bp", "min_support_bp", "min_confidence_bp", "min_lift_bp",
            "max_offers")


def settings_view(session: Session) -> dict:
    conf = settings(session)
    return {k: getattr(conf, k) for k in SETTINGS}


def change_settings(session: Session, actor: User, changes: dict) -> dict:
    """Change some settings (audited); a new hold-out share re-sends every consenting
    customer's offer profile, a new discount applies from the next analysis run."""
    conf = session.get(OfferSettings, 1, with_for_update=True) or settings(session)
    session.add(conf)
    before = {k: getattr(conf, k) for k in SETTINGS}
    for name, value in changes.items():
        setattr(conf, name, value)
    session.flush()
    after = {k: getattr(conf, k) for k in SETTINGS}
    if after != before:
        audit.change(session, actor.id, "offer_settings", 1, before, after)
    if after["holdout_bp"] != before["holdout_bp"]:
        publish_profiles(session)
    return after


def held_out(customer_id: uuid.UUID | str, holdout_bp: int) -> bool:
    """Whether the customer is in the hold-out group: stable for an id and a share."""
    digest = hashlib.sha256(f"kassa-holdout:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 10_000 < holdout_bp


def offer_doc(offer: Offer) -> dict:
    return {"id": offer.id, "kind": offer.kind, "product_id": offer.product_id,
            "trigger_product_ids": list(offer.trigger_product_ids),
            "discount_bp": offer.discount_bp, "segments": offer.segments,
            "active": offer.active}


def sync_offers(session: Session, proposals: list[dict]) -> dict:
    """Make the offers match ``proposals`` (dicts with rule_key, kind, product_id,
    trigger_product_ids, support, confidence, lift): new ones added, changed ones updated,
    those of rules that no longer hold switched off. Each change goes into the feed."""
    conf = settings(session)
    existing = {o.rule_key: o for o in session.scalars(select(Offer))}
    wanted = {p["rule_key"]: p for p in proposals}
    made = updated = stopped = 0
    now = utcnow()
    for key, p in wanted.items():
        segments = None if p["kind"] == "cross_sell" else UPSELL_SEGMENTS
        offer = existing.get(key)
        fields = {"kind": p["kind"], "product_id": p["product_id"],
                  "trigger_product_ids": sorted(p["trigger_product_ids"]),
                  "discount_bp": conf.discount_bp, "segments": segments, "active": True}
        if offer is None:
            offer = Offer(rule_key=key, created_at=now, **fields)
            session.add(offer)
            made += 1
        elif any(getattr(offer, k) != v for k, v in fields.items()):
            for k, v in fields.items():
                setattr(offer, k, v)
            updated += 1
        else:
            offer.support, offer.confidence, offer.lift = p["support"], p["confidence"], p["lift"]
            continue
        offer.support, offer.confidence, offer.lift = p["support"], p["confidence"], p["lift"]
        offer.updated_at = now
        session.flush()
        record_change(session, "offer", offer.id, offer_doc(offer))
    for key, offer in existing.items():
        if key not in wanted and offer.active:
            offer.active, offer.updated_at = False, now
            session.flush()
            record_change(session, "offer", offer.id, offer_doc(offer))
            stopped += 1
    return {"offers_made": made, "offers_updated": updated, "offers_stopped": stopped}


CHUNK = 5000  # ids per IN list: PostgreSQL takes at most 65,535 parameters a statement


def _chunks(ids: list) -> Iterable[list]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i:i + CHUNK]


def consenting(session: Session, customer_ids: Iterable[uuid.UUID] | None = None) -> dict:
    """{customer id: consents now} by the newest answer on the offers channel; a merged or
    anonymized record never does."""
    stmt = (select(Consent.customer_id, Consent.granted, Customer.merged_into_id.is_(None)
                   & Customer.anonymized_at.is_(None))
            .join(Customer, Customer.id == Consent.customer_id)
            .where(Consent.channel == "offers").order_by(Consent.at, Consent.id))
    if customer_ids is None:
        rows = session.execute(stmt).all()
    else:
        rows = [row for part in _chunks(list(customer_ids))
                for row in session.execute(stmt.where(Consent.customer_id.in_(part))).all()]
    return {cid: granted and live for cid, granted, live in rows}


def publish_profiles(session: Session, customer_ids: Iterable[uuid.UUID] | None = None) -> int:
    """Send the offer profile of these customers (None: everyone who ever answered on the
    offers channel) to the tills: the profile if they consent, a tombstone if not."""
    answers = consenting(session, customer_ids)
    if not answers:
        return 0
    holdout = settings(session).holdout_bp
    segments: dict[uuid.UUID, str | None] = {}
    for part in _chunks([cid for cid, ok in answers.items() if ok]):
        segments.update(session.execute(select(CustomerScore.customer_id, CustomerScore.segment)
                                        .where(CustomerScore.customer_id.in_(part))).all())
    record_changes(session, "offer_profile", [
        (cid, {"customer_id": str(cid), "segment": segments.get(cid), "offers_ok": True,
               "held_out": held_out(cid, holdout)} if granted else None, None, None)
        for cid, granted in answers.items()])
    return len(answers)

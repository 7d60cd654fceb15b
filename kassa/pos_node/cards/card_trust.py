"""What this till trusts when a loyalty card is presented, from its replica of central's feed:
issuer keys, every node's key (a record another till wrote), the block list, and the highest
record counter it has seen on each card (``kassa.smartcard.reader.Trust``)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.orm import Session

from kassa.pos_node.models import BlockedCard, CardCounter, IssuerKey, PeerNode
from kassa.smartcard.card_protocol import load_public
from kassa.smartcard.reader import Trust


def trust(session: Session) -> Trust:
    """A snapshot of the till's trust, read in the caller's transaction (keys are few; the
    block list and counters are looked up per card)."""
    issuers = {k.id: load_public(k.public_key_pem) for k in session.scalars(select(IssuerKey))}
    nodes = {n.id: load_public(n.public_key_pem) for n in session.scalars(select(PeerNode))}

    def blocked(number: str) -> bool:
        return session.get(BlockedCard, number) is not None

    def highest(number: str) -> int:
        seen = session.get(CardCounter, number)
        return seen.highest if seen is not None else 0

    return Trust(issuers, nodes.get, blocked, highest)


def saw_counter(session: Session, card_number: str, counter: int) -> None:
    """Remember the newest record counter seen on a card (never lowered)."""
    stmt = insert(CardCounter).values(card_number=card_number, highest=counter)
    session.execute(stmt.on_conflict_do_update(
        index_elements=[CardCounter.card_number],
        set_={"highest": stmt.excluded.highest},
        where=CardCounter.highest < stmt.excluded.highest))

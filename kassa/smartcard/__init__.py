"""Loyalty smart cards: the card protocol of ``shared/card-protocol.md`` (``protocol``), the
card applet the virtual card runs (``applet``), issuing cards (``issuer``), the reader's checks
(``reader``) and the bridge to pcscd's vpcd driver (``vpcd``).

Named ``kassa.smartcard`` because pyscard already owns the top-level name ``smartcard``.
"""

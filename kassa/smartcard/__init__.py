"""Loyalty smart cards: the PC/SC reader (pyscard), the card protocol of
``shared/card-protocol.md`` and the virtual card for pcscd's vpcd driver.

Empty so far: the loyalty and cards issue (#5) fills it. (Named ``kassa.smartcard`` because
pyscard already owns the top-level name ``smartcard``.)
"""

"""kassa: a retail CRM built around the point of sale.

One distribution with the parts the design names: ``central`` (authorization, master data,
reports), ``pos_node`` (the till over a local SQLite replica), ``sync`` (replication between
them), ``loyalty`` (pure loyalty rules), ``smartcard`` (PC/SC cards) and ``common``.
"""

__version__ = "0.1.0"

"""Loyalty, pure domain: accounts, the ledger, tiers, earning and redemption rules, offline
limits. Plain Python with no Flask or SQLAlchemy import, used by node and central alike.

Empty so far: the loyalty issue (#5) fills it. The till's payment code already names the
hook (a ``points`` tender is refused with ``points_unavailable`` until then).
"""

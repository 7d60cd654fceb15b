"""Loyalty, pure domain: accounts, the ledger, tiers, earning and redemption rules, offline
limits. Plain Python with no Flask or SQLAlchemy import, used by node and central alike.

``ledger``: entries keyed by their cause (a replay never counts twice), lots spent oldest
expiry first, expiry runs, debt from offline overdrafts. ``rules``: what a sale earns, what
points pay, what a return takes back and gives back, tiers, the offline allowance. The till's
payment code still refuses a ``points`` tender (``points_unavailable``) until accounts and
cards are wired in (issue 5).
"""

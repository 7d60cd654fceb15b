"""The loyalty programme at central: the authoritative points ledger (accounts, entries, holds,
tiers, expiry), the cards' lifecycle, personal offers, and the customer's own page.
"""

"""Selling at the till: the pure sale arithmetic (``cart``), the catalogue lookups, the cart and
checkout, returns, shifts, staff limits and overrides, central's approvals as the till spends
them, personal offers, customers and receipts. Each write is one local transaction with its
outbox event.
"""

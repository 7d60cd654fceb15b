"""Loyalty cards at the till: the reader that watches for a card and checks it, what the till
trusts from its replica, and the customer's points at the till (balance, earning, redemption,
returns).
"""

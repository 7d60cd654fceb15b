"""People and access at central: who is calling (node signatures, sessions, tokens, HTTP Basic),
staff accounts and their roles, the region wall, the audit log, and authorizations of what a
till may not decide alone.
"""

"""The till's HTTP side: the cashier's pages and the customer display, and the JSON API they
call. Handlers parse, call one service in ``sale``, ``cards`` or ``replication``, and dump.
"""

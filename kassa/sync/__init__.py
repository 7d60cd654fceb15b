"""The wire contract of replication, shared by both ends: the requests and answers of the sync
endpoints (``protocol``) and the payload of each kind of event (``payloads``). What each end
does with them is its own: central's ingest is ``kassa.central.replication``, the till's outbox
and client ``kassa.pos_node.replication``.
"""

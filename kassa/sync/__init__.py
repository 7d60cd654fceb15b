"""Replication between POS nodes and central, shared by both ends.

``protocol`` fixes the wire format; ``outbox`` appends a node's facts; ``client`` pushes and
pulls from the node; ``apply`` applies pushed events at central exactly once; ``replica`` applies
central's change feed to a node's tables.
"""

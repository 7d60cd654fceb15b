"""Central's side of sync with the tills: enrolment and node keys, the signed push (ingest,
exactly once, in order) and its quarantine, the change feed and snapshots the tills pull, and
what central knows of each node.
"""

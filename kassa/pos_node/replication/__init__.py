"""The till's side of sync: its outbox, the signed client that pushes and pulls, the replica the
feed updates, the first bootstrap from a snapshot, the background scheduler, enrolment and
restore from backup.
"""

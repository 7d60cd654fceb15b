"""What managers read: operational and managers' reports, customers' history from a previous
system, and the analytic warehouse (``reporting.warehouse``) with its API.
"""

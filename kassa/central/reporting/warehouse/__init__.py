"""The analytic side of central: a star schema in DuckDB built incrementally from central's
database, and the models that run on it (RFM segments, lifetime value, basket rules, demand).

The model modules (``clv``, ``basket``, ``demand``) are pure: arrays or a DuckDB connection in,
results out, no Flask and no central database, so they are tested and benchmarked alone.
"""

"""The database's tools beyond its engine (``kassa.common.db``, which stays where the frozen
migrations import it): bulk writes, Alembic driven from code, and the Litestream backup of an
SQLite file.
"""

"""Alembic environment for a POS node's chain."""

from kassa.common.storage.migrate import run_env
from kassa.pos_node.models import UNMODELLED_TABLES, Base

run_env(Base.metadata, UNMODELLED_TABLES)

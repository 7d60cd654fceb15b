"""Alembic environment for a POS node's chain."""

import kassa.pos_node.models  # noqa: F401  (registers the tables)
from kassa.common.db import NodeBase
from kassa.common.storage.migrate import run_env

run_env(NodeBase.metadata)

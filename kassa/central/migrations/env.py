"""Alembic environment for central's chain."""

import kassa.central.models  # noqa: F401  (registers the tables)
from kassa.common.db import CentralBase
from kassa.common.storage.migrate import run_env

run_env(CentralBase.metadata)

"""Alembic environment for central's chain."""

from kassa.central.models import Base
from kassa.common.storage.migrate import run_env

run_env(Base.metadata)

"""Alembic driven from code, for any chain: each app keeps its chain beside its models
(``kassa.central.models.MIGRATIONS``, ``kassa.pos_node.models.MIGRATIONS``) and passes it in.

``kassa central init-db`` and ``kassa pos init`` call :func:`upgrade`; there is no alembic.ini
to keep in step with the configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData

from kassa.common.db import make_engine

if TYPE_CHECKING:
    from alembic.runtime.environment import (
        IncludeNameFn,
        NameFilterParentNames,
        NameFilterType,
    )


def alembic_config(chain: Path, db_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(chain))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["db_url"] = db_url
    return cfg


def upgrade(chain: Path, db_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(chain, db_url), revision)


def revision(chain: Path, db_url: str, message: str) -> None:
    """Autogenerate a new migration for ``chain`` (developers only; review what it writes)."""
    command.revision(alembic_config(chain, db_url), message=message, autogenerate=True)


def skipping(unmodelled: tuple[str, ...]) -> IncludeNameFn:
    """Alembic's ``include_name`` leaving out the tables whose names start with one of
    ``unmodelled``: objects a chain makes that its models do not describe on purpose."""
    def include_name(name: str | None, type_: NameFilterType,
                     _parent_names: NameFilterParentNames) -> bool:
        return not (type_ == "table" and name and name.startswith(unmodelled))
    return include_name


def run_env(metadata: MetaData, unmodelled: tuple[str, ...] = ()) -> None:
    """Body of each chain's env.py: online migrations on our tuned engine."""
    cfg = context.config
    engine = make_engine(cfg.attributes["db_url"])
    try:
        with engine.connect() as conn:
            context.configure(
                connection=conn,
                target_metadata=metadata,
                render_as_batch=conn.dialect.name == "sqlite",
                compare_type=True,
                include_name=skipping(unmodelled),
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()

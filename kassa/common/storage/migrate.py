"""Alembic driven from code: two chains, ``central`` and ``node``, each beside its models.

``kassa central init-db`` and ``kassa pos init`` call :func:`upgrade`; there is no alembic.ini
to keep in step with the configuration.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData

from kassa.common.db import make_engine

CHAINS = {
    "central": Path(__file__).resolve().parents[2] / "central" / "migrations",
    "node": Path(__file__).resolve().parents[2] / "pos_node" / "migrations",
}


def alembic_config(chain: str, db_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(CHAINS[chain]))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["db_url"] = db_url
    return cfg


def upgrade(chain: str, db_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(chain, db_url), revision)


def revision(chain: str, db_url: str, message: str) -> None:
    """Autogenerate a new migration for ``chain`` (developers only; review what it writes)."""
    command.revision(alembic_config(chain, db_url), message=message, autogenerate=True)


def include_name(name, type_, _parent_names) -> bool:
    """Objects the models do not describe on purpose: the node's FTS5 index and its shadows."""
    return not (type_ == "table" and name and name.startswith("products_fts"))


def run_env(metadata: MetaData) -> None:
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
                include_name=include_name,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()

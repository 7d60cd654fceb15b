"""Configuration from environment variables, each with an embedded default that is safe to run.

Every variable read here is listed in the README; nothing else in kassa reads the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def var_dir() -> Path:
    """Where runtime files (SQLite databases, replicas, logs) live: ``$KASSA_VAR_DIR`` or ./var."""
    return Path(os.environ.get("KASSA_VAR_DIR", "var")).resolve()


def normalize_db_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and a bare SQLite path; always use psycopg 3."""
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if "://" not in url:
        return f"sqlite:///{Path(url).resolve()}"
    return url


@dataclass(frozen=True)
class CentralConfig:
    db_url: str
    clock_skew_seconds: int

    @classmethod
    def from_env(cls) -> "CentralConfig":
        default = var_dir() / "central" / "central.sqlite"
        return cls(
            db_url=normalize_db_url(os.environ.get("KASSA_CENTRAL_DB", str(default))),
            clock_skew_seconds=int(os.environ.get("KASSA_SIGNATURE_WINDOW", "300")),
        )


@dataclass(frozen=True)
class NodeConfig:
    db_url: str
    push_batch_size: int
    http_timeout: float
    sync_interval: float = 30.0

    @classmethod
    def from_env(cls) -> "NodeConfig":
        default = var_dir() / "pos" / "node.sqlite"
        return cls(
            db_url=normalize_db_url(os.environ.get("KASSA_NODE_DB", str(default))),
            push_batch_size=int(os.environ.get("KASSA_PUSH_BATCH", "200")),
            http_timeout=float(os.environ.get("KASSA_HTTP_TIMEOUT", "10")),
            sync_interval=float(os.environ.get("KASSA_SYNC_INTERVAL", "30")),
        )

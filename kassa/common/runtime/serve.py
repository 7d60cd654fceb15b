"""Serving a Flask app factory under gunicorn, started from the ``kassa`` command.

Served processes log JSON lines by default (``KASSA_LOG_FORMAT``) and keep their metrics in
prometheus-client's multiprocess mode: each worker counts into files of a directory made
fresh for this run, and a scrape answered by any worker sums them all.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Callable

from flask import Flask
from gunicorn.app.base import BaseApplication

from kassa.common.config import log_format, var_dir


class _Gunicorn(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type information
    def __init__(self, factory: Callable[[], Flask], options: dict[str, Any], log_format: str,
                 app_name: str):
        self.factory = factory
        self.options = options
        self.log_format = log_format
        self.app_name = app_name
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        from kassa.common.runtime import observability
        observability.configure_logging(self.log_format, self.app_name)
        return self.factory()


def _child_exit(_server: Any, worker: Any) -> None:
    """gunicorn's ``child_exit`` hook (its arbiter and worker are untyped)."""
    from prometheus_client import multiprocess
    # prometheus_client leaves this function unannotated.
    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def fresh_metrics_dir(name: str) -> Path:
    """``$KASSA_VAR_DIR/metrics/<name>-<pid>``, empty; directories left by runs whose process
    is gone are removed (a crash leaves its directory behind)."""
    root = var_dir() / "metrics"
    root.mkdir(parents=True, exist_ok=True)
    for old in root.glob(f"{name}-*"):
        pid = old.name.rsplit("-", 1)[1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    mine = root / f"{name}-{os.getpid()}"
    shutil.rmtree(mine, ignore_errors=True)
    mine.mkdir()
    return mine


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# How long a kept-alive connection may idle: past a till's sync interval (5 s, 20 % jitter).
KEEP_ALIVE_SECONDS = 10


def serve(factory: Callable[[], Flask], host: str, port: int, workers: int, threads: int,
          name: str, keep_alive: int = 0) -> None:
    """Run until SIGINT/SIGTERM; gunicorn stops its workers before returning.

    ``keep_alive``: idle connections one worker keeps open for their clients' next requests.
    Thousands of tills syncing every few seconds each keep theirs (without, every request is
    a new connection, and at 2,000 tills the requests waiting to be accepted made pull p99
    2.8 s where it was 0.4 s kept alive: ``bench/bench_chain.py``). Few clients are better
    served by 0 (see below)."""
    fmt = log_format(default="json")
    metrics_dir = fresh_metrics_dir(name)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)  # the workers inherit it
    from kassa.common.runtime import observability
    observability.use_multiprocess()
    app_name = name.removeprefix("kassa-")
    try:
        _Gunicorn(factory, {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            # With several workers, one takes at most as many connections as it has threads,
            # so keep-alive clients spread over the workers: left at gunicorn's 1000, one
            # worker accepted all sixteen connections of the authorization bench while the
            # others idled (165 -> 241 decisions/s). A single worker keeps the default.
            "worker_connections": threads + keep_alive if workers > 1 or keep_alive
            else 1000,
            "keepalive": KEEP_ALIVE_SECONDS if keep_alive else 2,
            "proc_name": name,
            "graceful_timeout": 10,
            "timeout": 60,
            "accesslog": None,  # kassa logs each request itself, with its request id
            "errorlog": "-",
            "loglevel": "warning",
            "logger_class": observability.gunicorn_logger(fmt, app_name),
            "child_exit": _child_exit,
            # The client's scheme and address are the app's to take from a proxy, and only as
            # far as KASSA_TRUSTED_PROXIES says (ProxyFix): gunicorn on its own believes
            # X-Forwarded-Proto from any process on this machine (its default trusts
            # loopback), which made a plain-HTTP request "secure".
            "forwarded_allow_ips": "",
            "secure_scheme_headers": {},
        }, fmt, app_name).run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)

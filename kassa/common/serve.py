"""Serving a Flask app factory under gunicorn, started from the ``kassa`` command."""

from __future__ import annotations

from typing import Callable

from flask import Flask
from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):
    def __init__(self, factory: Callable[[], Flask], options: dict):
        self.factory = factory
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return self.factory()


def serve(factory: Callable[[], Flask], host: str, port: int, workers: int, threads: int,
          name: str) -> None:
    """Run until SIGINT/SIGTERM; gunicorn stops its workers before returning."""
    _Gunicorn(factory, {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        # With several workers, one takes at most as many connections as it has threads, so
        # keep-alive clients spread over the workers: left at gunicorn's 1000, one worker
        # accepted all sixteen connections of the authorization bench while the others idled
        # (165 -> 241 decisions/s). A single worker keeps the default.
        "worker_connections": threads if workers > 1 else 1000,
        "proc_name": name,
        "graceful_timeout": 10,
        "timeout": 60,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
    }).run()

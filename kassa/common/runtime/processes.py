"""A supervisor for child processes: one owner starts them, and the same owner stops them all.

Children run in their own session, so a terminal's Ctrl-C reaches only the owner, which then
stops the children in reverse order of starting: SIGTERM, a grace period, then SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TypeVar

import requests

T = TypeVar("T")


class ProcessFailed(RuntimeError):
    pass


class Supervisor:
    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._pause = threading.Event()  # never set: waiting on it is the poll interval

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None
              ) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")
        proc = subprocess.Popen(argv, env={**os.environ, **(env or {})}, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        log.close()
        self.children.append((name, proc))
        return proc

    def wait_http(self, name: str, url: str, deadline_s: float = 30.0) -> None:
        """Wait until ``url`` answers 200, the child dies, or the deadline passes."""
        self.wait_for(name, lambda: _answers(url), f"answer at {url}", deadline_s)

    def wait_for(self, name: str, ready: Callable[[], T], what: str,
                 deadline_s: float = 30.0) -> T:
        """Wait until ``ready()`` returns something true, which is returned; ProcessFailed
        when the child dies first or the deadline passes (``what`` it did not do)."""
        proc = dict(self.children)[name]
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if proc.poll() is not None:
                raise ProcessFailed(f"{name} exited with {proc.returncode}; see "
                                    f"{self.log_dir / (name + '.log')}")
            found = ready()
            if found:
                return found
            self._pause.wait(0.1)
        raise ProcessFailed(f"{name} did not {what} within {deadline_s:.0f} s")

    def wait_any(self, ignore: Collection[str] = ()) -> tuple[str, int]:
        """Block until one child not in ``ignore`` exits; returns its name and exit code."""
        while True:
            for name, proc in self.children:
                if name not in ignore and proc.poll() is not None:
                    return name, proc.returncode
            self._pause.wait(0.5)

    def stop_all(self, grace_s: float = 10.0) -> None:
        for _name, proc in reversed(self.children):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        end = time.monotonic() + grace_s
        for _name, proc in reversed(self.children):
            try:
                proc.wait(max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.children.clear()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False

"""End-to-end fixtures: the real ``kassa`` command, real processes, real loopback HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from kassa.common.processes import Supervisor

KASSA = [sys.executable, "-m", "kassa.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_kassa(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(KASSA + list(args), env={**os.environ, **env}, capture_output=True,
                            text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"kassa {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def supervisor(tmp_path):
    sup = Supervisor(tmp_path / "logs")
    yield sup
    sup.stop_all()

"""End-to-end fixtures: the real ``kassa`` command, real processes, real loopback HTTP."""

from __future__ import annotations

import json
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


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Central (SQLite) and node pos-1, seeded, enrolled and synced, as real processes."""
    root = tmp_path_factory.mktemp("ui-stack")
    central_env = {"KASSA_CENTRAL_DB": str(root / "central.sqlite")}
    node_env = {"KASSA_NODE_DB": str(root / "pos-1.sqlite"), "KASSA_SYNC_INTERVAL": "0"}
    run_kassa("central", "init-db", env=central_env)
    secrets = json.loads(run_kassa("central", "seed-demo", env=central_env).stdout)
    sup = Supervisor(root / "logs")
    cport, nport = free_port(), free_port()
    central, node = f"http://127.0.0.1:{cport}", f"http://127.0.0.1:{nport}"
    try:
        sup.start("central", KASSA + ["central", "serve", "--port", str(cport)], central_env)
        sup.wait_http("central", central + "/health")
        run_kassa("pos", "init", "--node-id", "pos-1", "--central-url", central,
                  "--enroll-code", secrets["nodes"]["pos-1"]["enroll_code"], env=node_env)
        run_kassa("pos", "sync-now", env=node_env)
        sup.start("pos-1", KASSA + ["pos", "serve", "--port", str(nport)], node_env)
        sup.wait_http("pos-1", node + "/health")
        yield {"node": node, "central": central, "users": secrets["users"],
               "central_db": central_env["KASSA_CENTRAL_DB"],
               "node_env": node_env, "supervisor": sup, "node_port": nport}
    finally:
        sup.stop_all()

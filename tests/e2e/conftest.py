"""End-to-end fixtures: the real ``kassa`` command, real processes, real loopback HTTP."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from kassa.common.runtime.processes import Supervisor
from tests.helpers import CHROMIUM_ARGS, free_port

KASSA = [sys.executable, "-m", "kassa.cli"]


def run_kassa(*args: str, env: dict[str, str], check: bool = True,
              input: str | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(KASSA + list(args), env={**os.environ, **env}, capture_output=True,
                            text=True, timeout=120, input=input)
    if check and result.returncode != 0:
        raise AssertionError(f"kassa {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def supervisor(tmp_path):
    sup = Supervisor(tmp_path / "logs")
    yield sup
    sup.stop_all()


@pytest.fixture(scope="session")
def seeded_central(tmp_path_factory):
    """``seed(path, *nodes)`` puts at ``path`` a migrated central SQLite database holding the
    demo chain with those nodes and returns ``seed-demo``'s secrets. Made with the real
    commands (``init-db``, ``seed-demo``) once per session for each list of nodes, then copied:
    a copy's one-time enrolment codes are its own. Saves each stack five seconds."""
    made: dict[tuple[str, ...], tuple[Path, dict]] = {}

    def seed(path: Path, *nodes: str) -> dict:
        if nodes not in made:
            template = tmp_path_factory.mktemp("central-template") / "central.sqlite"
            env = {"KASSA_CENTRAL_DB": str(template)}
            run_kassa("central", "init-db", env=env)
            chosen = [arg for node in nodes for arg in ("--node", node)]
            made[nodes] = template, json.loads(
                run_kassa("central", "seed-demo", *chosen, env=env).stdout)
        template, secrets = made[nodes]
        shutil.copyfile(template, path)  # closed cleanly: no WAL beside it
        return copy.deepcopy(secrets)

    return seed


@pytest.fixture(scope="module")
def stack(tmp_path_factory, seeded_central):
    """Central (SQLite) and node pos-1, seeded, enrolled and synced, as real processes."""
    with till_stack(tmp_path_factory.mktemp("ui-stack"), seeded_central) as made:
        yield made


@contextmanager
def till_stack(root: Path, seeded_central, node_extra: dict | None = None):
    """Central (SQLite) and till pos-1 as real processes under ``root``, the till with
    ``node_extra`` in its environment (its devices); yields what the UI tests use."""
    central_env = {"KASSA_CENTRAL_DB": str(root / "central.sqlite")}
    node_env = {"KASSA_NODE_DB": str(root / "pos-1.sqlite"), "KASSA_SYNC_INTERVAL": "0",
                **(node_extra or {})}
    secrets = seeded_central(root / "central.sqlite")
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


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, tmp_path):
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    pg = context.new_page()
    shots = [tmp_path]
    if os.environ.get("KASSA_SCREENSHOTS"):
        shots.append(Path(os.environ["KASSA_SCREENSHOTS"]))

    def shot(name: str) -> None:
        for folder in shots:
            folder.mkdir(parents=True, exist_ok=True)
            pg.screenshot(path=str(folder / f"{name}.png"))
    def shot_of(other, name: str) -> None:
        for folder in shots:
            other.screenshot(path=str(folder / f"{name}.png"), full_page=True)
    pg.shot = shot
    pg.shot_of = shot_of
    yield pg
    context.close()

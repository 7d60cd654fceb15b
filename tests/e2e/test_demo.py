"""`kassa demo` (what `make demo` runs) brings up central and two nodes whose URLs answer,
rings up a first sale that reaches central's report, and Ctrl-C stops every process."""

import json
import os
import signal
import socket
import subprocess
import time

import pytest
import requests

from tests.e2e.conftest import KASSA

pytestmark = pytest.mark.e2e


def three_free_ports() -> int:
    for base in range(18700, 19700, 10):
        try:
            socks = []
            for port in range(base, base + 3):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no three consecutive free ports")


def test_demo_starts_three_processes_and_stops_them_on_ctrl_c(tmp_path):
    port = three_free_ports()
    proc = subprocess.Popen(KASSA + ["demo", "--port", str(port)],
                            env={**os.environ, "KASSA_VAR_DIR": str(tmp_path)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        banner = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "demo exited early:\n" + "".join(banner)
            banner.append(line)
            if "every demo user's password" in line:
                break
        text = "".join(banner)
        urls = [f"http://127.0.0.1:{port + i}/health" for i in range(3)]
        for url in urls:
            assert url.replace("/health", "") in text
            assert requests.get(url, timeout=5).json()["status"] == "ok"
        creds = json.loads((tmp_path / "demo" / "credentials.json").read_text())
        rows = requests.get(f"http://127.0.0.1:{port}/api/v1/reports/sales-by-store",
                            auth=("office", creds["office"]["password"]), timeout=5).json()
        assert {r["store_code"]: r["sales_count"] for r in rows["stores"]} == {"S001": 1,
                                                                               "S002": 0}
        assert oct((tmp_path / "demo" / "credentials.json").stat().st_mode & 0o777) == "0o600"

        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        assert "demo stopped" in out
        for url in urls:
            with pytest.raises(requests.ConnectionError):
                requests.get(url, timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

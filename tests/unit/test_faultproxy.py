"""The fault-injection proxy, against a real HTTP server on loopback: what passes, what
breaks, and what upstream gets to see when the client sees an error."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from tests.faultproxy import FaultProxy

TIMEOUT = 2.0


class _Echo(BaseHTTPRequestHandler):
    """Counts the POSTs it got whole and echoes their bodies; keep-alive (HTTP/1.1)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: EchoServer

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        if len(body) < length:  # a half-sent request is not processed
            self.close_connection = True
            return
        self.server.record(body)
        self.send_response_only(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class EchoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Echo)
        self.bodies: list[bytes] = []
        self._changed = threading.Condition()

    def record(self, body: bytes) -> None:
        with self._changed:
            self.bodies.append(body)
            self._changed.notify_all()

    def wait_posts(self, count: int, timeout: float = TIMEOUT) -> bool:
        """Wait until the server processed at least ``count`` POSTs."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.bodies) >= count, timeout)

    def handle_error(self, request, client_address):
        pass  # resets and cut requests are what these tests are about


@pytest.fixture
def server():
    srv = EchoServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(TIMEOUT)


def _proxy(server: EchoServer, **kwargs) -> FaultProxy:
    kwargs.setdefault("auto_replay", False)
    return FaultProxy(upstream=server.server_address[:2], seed=1234, reply_idle_s=0.1,
                      **kwargs).start()


@pytest.fixture
def proxy(server):
    proxy = _proxy(server)
    yield proxy
    proxy.stop()


@pytest.fixture
def http():
    with requests.Session() as session:
        yield session


def _post(http: requests.Session, proxy: FaultProxy, body: bytes) -> requests.Response:
    return http.post(proxy.url + "/echo", data=body, timeout=TIMEOUT)


def _outcome(http: requests.Session, proxy: FaultProxy, body: bytes) -> str:
    """"ok", "error" (the client got an exception) or "wrong" (an answer, not the echo: a
    response cut before its Content-Length header is read until the close, as HTTP says)."""
    try:
        resp = _post(http, proxy, body)
    except requests.RequestException:
        return "error"
    return "ok" if resp.status_code == 200 and resp.content == body else "wrong"


def test_clean_pass_through_keeps_one_connection_alive(proxy, server, http):
    bodies = [f"sale {i}".encode() * (i + 1) for i in range(5)] + [b"x" * 200_000]
    for body in bodies:
        resp = _post(http, proxy, body)
        assert resp.status_code == 200
        assert resp.content == body
    assert server.bodies == bodies
    stats = proxy.stats
    assert stats["accepted"] == 1 and stats["passed"] == 1
    assert sum(stats[fault] for fault in ("drop", "truncate", "reset", "lose_reply")) == 0


def test_a_client_half_close_is_passed_on_and_the_answer_still_comes_back(proxy, server):
    request = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200")
    assert answer.endswith(b"\r\n\r\nhello")
    assert server.bodies == [b"hello"]


def test_down_resets_live_and_new_connections_and_up_again_works(proxy, server, http):
    assert _post(http, proxy, b"before").content == b"before"

    proxy.set_down(True)
    assert proxy.stats["cut"] == 1  # the keep-alive connection above
    for _ in range(2):
        with pytest.raises(requests.ConnectionError):
            _post(http, proxy, b"while down")
    assert proxy.stats["refused"] >= 1  # the first try may still meet the cut connection
    assert server.bodies == [b"before"]

    proxy.set_down(False)
    assert _post(http, proxy, b"after").content == b"after"
    assert server.bodies == [b"before", b"after"]


def test_a_lost_reply_is_an_error_for_the_client_but_upstream_processed_it(proxy, server, http):
    proxy.set_faults(lose_reply=1.0)
    with pytest.raises(requests.ConnectionError):
        _post(http, proxy, b"batch 17")
    assert server.wait_posts(1)
    assert server.bodies == [b"batch 17"]
    assert proxy.stats["lose_reply"] == 1


def test_a_duplicate_is_delivered_again_on_replay(proxy, server, http):
    proxy.set_faults(duplicate=1.0)
    resp = _post(http, proxy, b"batch 18")
    assert resp.content == b"batch 18"
    assert server.bodies == [b"batch 18"]

    proxy.set_faults()
    assert _post(http, proxy, b"batch 19").content == b"batch 19"  # same connection
    assert proxy.replay_duplicates() == 1
    # The stale copies arrive after the newer traffic; replay waited for their answers.
    assert server.bodies == [b"batch 18", b"batch 19", b"batch 18", b"batch 19"]
    assert proxy.replay_duplicates() == 0  # each byte is replayed once
    stats = proxy.stats
    assert stats["duplicate"] == 1 and stats["replayed"] == 1


def test_duplicates_are_also_replayed_on_their_own(server, http):
    proxy = _proxy(server, auto_replay=True, auto_replay_delay_s=(0.01, 0.03))
    try:
        proxy.set_faults(duplicate=1.0)
        sent = [f"batch {i}".encode() for i in range(6)]
        for body in sent:
            assert _post(http, proxy, body).content == body
        assert server.wait_posts(len(sent) + 1), "no automatic replay"
        proxy.replay_duplicates()  # whatever the timers did not pick
        assert server.wait_posts(2 * len(sent))
        assert sorted(server.bodies) == sorted(sent * 2)
    finally:
        proxy.stop()


@pytest.mark.parametrize("fault", ["drop", "reset", "truncate"])
def test_broken_connections_give_the_client_an_error(proxy, server, http, fault):
    proxy.set_faults(**{fault: 1.0})
    outcomes = [_outcome(http, proxy, f"batch {i}".encode()) for i in range(6)]
    assert "ok" not in outcomes
    if fault != "truncate":
        assert outcomes == ["error"] * 6
        assert server.bodies == []  # nothing whole ever reached upstream
    assert outcomes.count("error") >= 4
    stats = proxy.stats
    assert stats[fault] == stats["accepted"] == 6
    assert stats["passed"] == 0


def test_a_delay_slows_the_exchange_but_it_completes(proxy, server, http):
    proxy.set_faults(delay=1.0, delay_s=(0.05, 0.08))
    started = time.monotonic()
    assert _post(http, proxy, b"slow").content == b"slow"
    assert time.monotonic() - started >= 0.1  # once each way
    assert proxy.stats["delay"] == 1


def test_faults_are_drawn_per_connection_and_counted(proxy, server):
    proxy.set_faults(drop=0.5, duplicate=0.5)
    outcomes = []
    for i in range(20):
        with requests.Session() as http:  # a new connection each time
            outcomes.append(_outcome(http, proxy, f"n{i}".encode()))
    stats = proxy.stats
    assert stats["accepted"] == 20
    assert stats["drop"] + stats["duplicate"] == 20
    assert 0 < stats["drop"] < 20
    assert outcomes.count("error") == stats["drop"]
    assert outcomes.count("ok") == stats["duplicate"]


def test_fault_probabilities_are_checked(proxy):
    with pytest.raises(ValueError):
        proxy.set_faults(drop=0.6, reset=0.6)
    with pytest.raises(ValueError):
        proxy.set_faults(delay=-0.1)
    with pytest.raises(ValueError):
        proxy.set_faults(delay=0.5, delay_s=(0.5, 0.1))


def test_stop_cuts_live_connections_and_ends_every_thread(server, http):
    proxy = _proxy(server)
    assert _post(http, proxy, b"one").content == b"one"
    proxy.stop()
    with pytest.raises(requests.ConnectionError):
        _post(http, proxy, b"two")
    assert not [t for t in threading.enumerate() if t.name.startswith("faultproxy-")]
    proxy.stop()  # a second stop is harmless

"""A real TCP proxy that puts network faults between a client (a POS node) and its upstream
(central), for the fault-injection tests.

Each accepted connection gets at most one fault, drawn from a seeded ``random.Random`` with
the probabilities given to :meth:`FaultProxy.set_faults`; the rest pass through untouched,
in both directions, HTTP keep-alive and half-closes included. What each fault models:

``drop``
    The cable is pulled before anything gets through: the client connection is closed (the
    kernel turns that into a reset when request bytes already arrived) and upstream is never
    contacted.
``delay``
    A slow link: the first chunk in each direction waits a random time from ``delay_s``,
    then everything flows normally.
``truncate``
    A half-sent batch: only a random prefix of the first request chunk reaches upstream, or
    only a random prefix of the first response chunk reaches the client; then both sides
    are closed (FIN).
``reset``
    The connection is reset (RST), either at once or after a random prefix of the request
    went upstream.
``lose_reply``
    Central committed but the reply was lost: the request goes upstream whole, the reply is
    read and thrown away, and the client is reset without having seen a byte of it.
``duplicate``
    Duplicated and reordered delivery: the connection passes normally but every byte the
    client sent is recorded; :meth:`FaultProxy.replay_duplicates` (and, with
    ``auto_replay``, a background timer) sends them upstream again on fresh connections,
    so stale copies arrive after newer traffic. Their answers are discarded.

Besides the random faults, :meth:`FaultProxy.set_down` cuts the link: live connections are
reset and new ones are reset as soon as they are accepted, until the link is back up.

The proxy's threads are daemons, never let an exception escape (they log and close), and
block on sockets or events rather than polling.
"""

from __future__ import annotations

import logging
import random
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

FAULTS = ("drop", "delay", "truncate", "reset", "lose_reply", "duplicate")
STAT_KEYS = ("accepted", "passed", *FAULTS, "refused", "cut", "replayed", "errors")

_CHUNK = 64 * 1024


# --- socket helpers: none of them raises --------------------------------------------------

def _arm_rst(sock: socket.socket) -> None:
    """Make the socket's close send an RST instead of a FIN (SO_LINGER on, timeout 0)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass


def _no_delay(sock: socket.socket) -> None:
    """Forward each chunk at once: Nagle's algorithm would add a delayed-ACK stall per hop."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass


def _shutdown(sock: socket.socket | None, how: int) -> None:
    if sock is None:
        return
    try:
        sock.shutdown(how)
    except OSError:
        pass


def _close(sock: socket.socket | None, rst: bool = False) -> None:
    if sock is None:
        return
    if rst:
        _arm_rst(sock)
    try:
        sock.close()
    except OSError:
        pass


def _send(sock: socket.socket | None, data: bytes) -> bool:
    if sock is None:
        return False
    try:
        sock.sendall(data)
        return True
    except OSError:
        return False


def _readable(sock: socket.socket, timeout: float) -> bool:
    """Wait until ``sock`` has data (or EOF, or an error) to read; False after ``timeout``."""
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(sock, selectors.EVENT_READ)
            return bool(sel.select(timeout))
    except (OSError, ValueError):  # closed meanwhile: a read will tell
        return True


def _drain(sock: socket.socket, idle_s: float) -> int:
    """Read and discard until the peer closes or stays silent for ``idle_s``; bytes read."""
    total = 0
    while _readable(sock, idle_s):
        try:
            data = sock.recv(_CHUNK)
        except OSError:
            break
        if not data:
            break
        total += len(data)
    return total


# --- one connection ----------------------------------------------------------------------

@dataclass(frozen=True)
class _Plan:
    """What happens to one connection, drawn when it is accepted."""

    fault: str | None = None
    delay_up: float = 0.0          # before the first client->upstream chunk
    delay_down: float = 0.0        # before the first upstream->client chunk
    truncate_side: str = "request"  # or "response"
    cut: float = 0.0               # truncate/reset: share of the first chunk still forwarded
    reset_at_once: bool = False


class _Recording:
    """The client->upstream bytes of one ``duplicate`` connection, and how far they were
    replayed. Guarded by the proxy's lock."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.replayed = 0   # data[:replayed] was sent again already
        self.answered = 0   # data[:answered] had a reply start coming back
        self.open = True    # the connection is still live

    def take(self, end: int | None = None) -> bytes:
        """The bytes not replayed yet, up to ``end``, marked as replayed."""
        end = len(self.data) if end is None else end
        if end <= self.replayed:
            return b""
        out = bytes(self.data[self.replayed:end])
        self.replayed = end
        return out


class _Link:
    """One client connection, its upstream connection and the fault applied to it.

    ``run`` (the link's own thread) connects upstream and starts one pump thread per
    direction. The sockets are shut down by whoever aborts the link, but closed only by
    ``run`` once the pumps are done, so no thread ever reads a closed (and perhaps reused)
    file descriptor.
    """

    def __init__(self, proxy: FaultProxy, client: socket.socket, plan: _Plan,
                 recording: _Recording | None):
        self.proxy = proxy
        self.client = client
        self.upstream: socket.socket | None = None
        self.plan = plan
        self.recording = recording
        self.closing = threading.Event()
        self._pump_ended = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        try:
            self._serve()
        finally:
            _close(self.client)
            _close(self.upstream)
            self.proxy._forget(self)

    def abort(self, rst_client: bool = False, rst_upstream: bool = False) -> None:
        """Wake both pumps and have the sockets closed, with an RST where asked for."""
        with self._lock:
            if self.closing.is_set():
                return
            self.closing.set()
            sockets = ((self.client, rst_client), (self.upstream, rst_upstream))
        for sock, rst in sockets:
            if sock is None:
                continue
            if rst:  # SHUT_RD wakes a blocked reader without sending a FIN first
                _arm_rst(sock)
                _shutdown(sock, socket.SHUT_RD)
            else:
                _shutdown(sock, socket.SHUT_RDWR)
        self._pump_ended.set()

    def _serve(self) -> None:
        plan = self.plan
        if plan.fault == "drop":
            return
        if plan.fault == "reset" and plan.reset_at_once:
            self.abort(rst_client=True)
            return
        try:
            upstream = socket.create_connection(self.proxy.upstream,
                                                timeout=self.proxy.connect_timeout)
            upstream.settimeout(None)
            _no_delay(upstream)
        except OSError as err:
            log.warning("fault proxy: upstream %s:%s unreachable: %s", *self.proxy.upstream, err)
            self.proxy._count("errors")
            self.abort(rst_client=True)
            return
        with self._lock:
            if self.closing.is_set():  # cut while connecting
                _close(upstream)
                return
            self.upstream = upstream
        pumps = [self.proxy._spawn(self._pump, self.client, upstream, True, name="up"),
                 self.proxy._spawn(self._pump, upstream, self.client, False, name="down")]
        # Once one direction is over (EOF passed on as a half-close, a fault, an error), the
        # other gets fin_timeout to finish before the link is closed.
        self._pump_ended.wait()
        deadline = time.monotonic() + self.proxy.fin_timeout
        for pump in pumps:
            pump.join(max(0.0, deadline - time.monotonic()))
        if any(pump.is_alive() for pump in pumps):
            self.abort()
            for pump in pumps:
                pump.join(1.0)

    def _pump(self, src: socket.socket, dst: socket.socket, upward: bool) -> None:
        """Copy ``src`` to ``dst`` until EOF (passed on as a half-close), error or abort."""
        first = True
        try:
            while True:
                try:
                    data = src.recv(_CHUNK)
                except OSError as err:
                    if not self.closing.is_set():
                        log.debug("fault proxy: %s read failed: %s", self._side(upward), err)
                    self.abort()
                    return
                if self.closing.is_set():
                    return
                if not data:
                    _shutdown(dst, socket.SHUT_WR)
                    return
                self._note(data, upward)
                if first:
                    first = False
                    if not self._first_chunk(data, upward):
                        return
                elif not _send(dst, data):
                    self.abort()
                    return
        finally:
            self._pump_ended.set()

    def _first_chunk(self, data: bytes, upward: bool) -> bool:
        """Apply the plan's fault to a direction's first chunk; False when that ends it."""
        plan = self.plan
        dst = self.upstream if upward else self.client
        delay = plan.delay_up if upward else plan.delay_down
        if delay and self.closing.wait(delay):
            return False
        side = "request" if upward else "response"
        if plan.fault == "truncate" and plan.truncate_side == side:
            _send(dst, data[:int(len(data) * plan.cut)])
            self.abort()
            return False
        if plan.fault == "reset" and upward:
            _send(dst, data[:int(len(data) * plan.cut)])
            self.abort(rst_client=True, rst_upstream=True)
            return False
        if plan.fault == "lose_reply" and not upward:
            swallowed = len(data) + _drain(self.upstream, self.proxy.reply_idle_s)
            log.debug("fault proxy: lost a %d byte reply", swallowed)
            self.abort(rst_client=True)
            return False
        if not _send(dst, data):
            self.abort()
            return False
        return True

    def _note(self, data: bytes, upward: bool) -> None:
        """Feed a ``duplicate`` connection's recording."""
        if self.recording is None:
            return
        if upward:
            self.proxy._record(self.recording, data)
        else:
            self.proxy._reply_seen(self.recording)

    @staticmethod
    def _side(upward: bool) -> str:
        return "client" if upward else "upstream"


# --- the proxy -----------------------------------------------------------------------------

class FaultProxy:
    """A TCP proxy on ``host`` (a free port unless ``port`` is given) in front of
    ``upstream``, injecting the faults described in this module's docstring.

    ``auto_replay``: after a reply starts coming back on a ``duplicate`` connection, replay
    the request bytes so far with a 50% chance, a random ``auto_replay_delay_s`` later.
    ``reply_idle_s``: how long a lost reply may stay silent before it counts as read whole.
    ``fin_timeout``: how long one direction may stay open after the other one ended.
    """

    def __init__(self, upstream: tuple[str, int], seed: int | None = None, *,
                 host: str = "127.0.0.1", port: int = 0, auto_replay: bool = True,
                 auto_replay_delay_s: tuple[float, float] = (0.05, 0.5),
                 connect_timeout: float = 2.0, reply_idle_s: float = 0.2,
                 replay_timeout: float = 5.0, fin_timeout: float = 5.0):
        self.upstream = upstream
        self.host = host
        self.auto_replay = auto_replay
        self.auto_replay_delay_s = auto_replay_delay_s
        self.connect_timeout = connect_timeout
        self.reply_idle_s = reply_idle_s
        self.replay_timeout = replay_timeout
        self.fin_timeout = fin_timeout
        self._want_port = port
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._faults = dict.fromkeys(FAULTS, 0.0)
        self._delay_s = (0.05, 0.5)
        self._down = False
        self._stats = dict.fromkeys(STAT_KEYS, 0)
        self._links: set[_Link] = set()
        self._recordings: list[_Recording] = []
        self._threads: set[threading.Thread] = set()
        self._replaying: set[socket.socket] = set()
        self._stopped = threading.Event()
        self._listener: socket.socket | None = None
        self._port: int | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None

    # -- life cycle

    def start(self) -> FaultProxy:
        if self._listener is not None:
            raise RuntimeError("fault proxy already started")
        listener = socket.create_server((self.host, self._want_port), backlog=128)
        listener.setblocking(False)
        self._listener = listener
        self._port = listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._spawn(self._accept_loop, name="accept")
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Close the listener and every live connection; join the threads for ``timeout``."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self._wake_w is not None:
            _send(self._wake_w, b"x")
        with self._lock:
            links = list(self._links)
            replaying = list(self._replaying)
        for link in links:
            link.abort()
        for sock in replaying:
            _shutdown(sock, socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                threads = [t for t in self._threads
                           if t.is_alive() and t is not threading.current_thread()]
            if not threads or time.monotonic() >= deadline:
                break
            threads[0].join(max(0.0, deadline - time.monotonic()))
        if threads:
            log.warning("fault proxy: %d threads still running after stop", len(threads))
        for sock in (self._listener, self._wake_r, self._wake_w):
            _close(sock)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("fault proxy not started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- controls

    def set_faults(self, *, drop: float = 0.0, delay: float = 0.0,
                   delay_s: tuple[float, float] = (0.05, 0.5), truncate: float = 0.0,
                   reset: float = 0.0, lose_reply: float = 0.0, duplicate: float = 0.0) -> None:
        """Per-connection fault probabilities for connections accepted from now on; each
        in [0, 1], adding up to at most 1. Unnamed faults go back to 0."""
        faults = {"drop": drop, "delay": delay, "truncate": truncate, "reset": reset,
                  "lose_reply": lose_reply, "duplicate": duplicate}
        if any(not 0.0 <= p <= 1.0 for p in faults.values()):
            raise ValueError(f"fault probabilities must be within [0, 1]: {faults}")
        if sum(faults.values()) > 1.0 + 1e-9:
            raise ValueError(f"fault probabilities add up to more than 1: {faults}")
        low, high = delay_s
        if not 0.0 <= low <= high:
            raise ValueError(f"delay_s must be (low, high) with 0 <= low <= high: {delay_s}")
        with self._lock:
            self._faults = faults
            self._delay_s = (low, high)

    def set_down(self, down: bool = True) -> None:
        """Cut the link (reset live connections, reset new ones at once) or bring it back."""
        with self._lock:
            self._down = down
            links = list(self._links) if down else []
            self._stats["cut"] += len(links)
        for link in links:
            link.abort(rst_client=True)

    def replay_duplicates(self) -> int:
        """Send the recorded, not yet replayed bytes of every ``duplicate`` connection again
        now, each on a fresh upstream connection, and wait for upstream to answer them (the
        answers are discarded). Nothing is sent while the link is down. Returns how many
        byte streams were sent."""
        with self._lock:
            if self._down:
                return 0
            payloads = [rec.take() for rec in self._recordings]
            self._recordings = [rec for rec in self._recordings
                                if rec.open or rec.replayed < len(rec.data)]
        return sum(self._send_stale_copy(payload) for payload in payloads if payload)

    @property
    def stats(self) -> dict[str, int]:
        """Counts: connections ``accepted``, ``passed`` with no fault, and per fault (counted
        when drawn for a connection); ``refused`` and ``cut`` by the link being down,
        ``replayed`` duplicate streams and upstream ``errors``."""
        with self._lock:
            return dict(self._stats)

    # -- internals

    def _spawn(self, target: Callable[..., object], *args: object,
               name: str) -> threading.Thread:
        """Start a daemon thread that logs whatever escapes ``target`` instead of raising."""
        def guarded() -> None:
            try:
                target(*args)
            except Exception:
                log.exception("fault proxy: thread %s failed", name)
            finally:
                with self._lock:
                    self._threads.discard(thread)

        thread = threading.Thread(target=guarded, name=f"faultproxy-{name}", daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()
        return thread

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._stats[key] += n

    def _accept_loop(self) -> None:
        assert self._listener is not None and self._wake_r is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self._listener, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopped.is_set():
                for key, _events in sel.select():
                    if key.fileobj is self._wake_r:
                        return
                    try:
                        client, _addr = self._listener.accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError as err:
                        if not self._stopped.is_set():
                            log.warning("fault proxy: accept failed: %s", err)
                        continue
                    try:
                        self._admit(client)
                    except Exception:
                        log.exception("fault proxy: could not take a connection")
                        _close(client, rst=True)

    def _admit(self, client: socket.socket) -> None:
        client.setblocking(True)
        _no_delay(client)
        with self._lock:
            self._stats["accepted"] += 1
            if self._down or self._stopped.is_set():
                self._stats["refused"] += 1
                link = None
            else:
                plan = self._draw_plan()
                self._stats[plan.fault or "passed"] += 1
                recording = _Recording() if plan.fault == "duplicate" else None
                if recording is not None:
                    self._recordings.append(recording)
                link = _Link(self, client, plan, recording)
                self._links.add(link)
        if link is None:
            _close(client, rst=True)
            return
        log.debug("fault proxy: new connection gets %s", link.plan)
        self._spawn(link.run, name="link")

    def _draw_plan(self) -> _Plan:
        """Draw one connection's fault and its details (caller holds the lock)."""
        rng = self._rng
        roll, total, fault = rng.random(), 0.0, None
        for name in FAULTS:
            total += self._faults[name]
            if roll < total:
                fault = name
                break
        low, high = self._delay_s
        delay = fault == "delay"
        return _Plan(fault=fault,
                     delay_up=rng.uniform(low, high) if delay else 0.0,
                     delay_down=rng.uniform(low, high) if delay else 0.0,
                     truncate_side=rng.choice(("request", "response")),
                     cut=rng.random(),
                     reset_at_once=rng.random() < 0.5)

    def _forget(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)
            if link.recording is not None:
                link.recording.open = False

    def _record(self, recording: _Recording, data: bytes) -> None:
        with self._lock:
            recording.data += data

    def _reply_seen(self, recording: _Recording) -> None:
        """A reply chunk came back: if it answers new request bytes, maybe schedule their
        automatic replay."""
        with self._lock:
            end = len(recording.data)
            if end <= recording.answered:
                return
            recording.answered = end
            if not self.auto_replay or self._rng.random() >= 0.5:
                return
            delay = self._rng.uniform(*self.auto_replay_delay_s)
        self._spawn(self._replay_later, recording, end, delay, name="replay")

    def _replay_later(self, recording: _Recording, end: int, delay: float) -> None:
        if self._stopped.wait(delay):
            return
        with self._lock:
            if self._down:
                return
            payload = recording.take(end)
        if payload:
            self._send_stale_copy(payload)

    def _send_stale_copy(self, payload: bytes) -> bool:
        """Send ``payload`` upstream on a new connection, half-close it and read the answer
        until upstream closes (or ``replay_timeout`` of silence)."""
        sock = None
        try:
            sock = socket.create_connection(self.upstream, timeout=self.connect_timeout)
            with self._lock:
                if self._stopped.is_set():
                    return False
                self._replaying.add(sock)  # so that stop() can wake the drain
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            _drain(sock, self.replay_timeout)
        except OSError as err:
            log.warning("fault proxy: replaying %d bytes failed: %s", len(payload), err)
            self._count("errors")
            return False
        finally:
            with self._lock:
                self._replaying.discard(sock)
            _close(sock)
        self._count("replayed")
        return True

"""A virtual smart card for pcscd's vpcd driver (vsmartcard project, ``vsmartcard-vpcd``).

The vpcd driver makes pcscd show virtual readers ("Virtual PCD 00 00", "Virtual PCD 00 01")
and listen on TCP ports 35963 and 35964 (one per reader, on all interfaces). A program that
connects to such a port *is* the card in that reader: it is inserted when vpcd accepts the
connection and removed when the connection closes. Every application above pcscd (pyscard,
``pcsc_scan``, the POS) then sees an ordinary card, which lets the whole real PC/SC stack be
tested without hardware.

The wire protocol, as implemented by ``vpcd.c`` / ``ifd-vpcd.c`` of virtualsmartcard 0.8
(Debian 12's ``vsmartcard-vpcd`` 3.3) up to the current source: each message in either
direction is a 2-byte big-endian length followed by that many bytes. vpcd sends

* 1-byte control messages: ``00`` power off, ``01`` power on, ``02`` reset (no reply to any of
  them) and ``04`` "get ATR", which the card answers with its ATR;
* any longer message: a command APDU, which the card answers with a response APDU (data + SW1
  SW2).

vpcd only accepts a waiting connection, and notices a closed one, when pcscd polls the reader
for card presence (by asking for the ATR, about every 0.4 s), so insertion and removal take up
to half a second to show. vpcd has no timeouts: a card that stops answering blocks its reader
until its connection closes, so the card must always answer, and never with an empty message
(an empty ATR reads as "card removed"). Reads ask for an immediate ACK (:func:`quick_ack`):
without it every APDU costs 40 ms with Debian's vpcd.

vpcd binds its ports on all interfaces: any host that reaches a till's 35963 can insert a card.
Production tills should not have ``vsmartcard-vpcd`` installed, or must firewall those ports.

This module only moves bytes; the card's behaviour is an :class:`Applet`.
"""

from __future__ import annotations

import logging
import selectors
import socket
import struct
import threading
from typing import Protocol

log = logging.getLogger(__name__)

VPCD_PORT = 35963
"""Port of the first vpcd reader (``0x8C7B`` in ``/etc/reader.conf.d/vpcd``); slot n is +n."""
READER_PREFIX = "Virtual PCD"
"""pcscd names vpcd's readers ``Virtual PCD <reader> <slot>``, both two hex digits."""

DEFAULT_ATR = bytes.fromhex("3B 8A 81 31 FE 45 80 55 4B 41 53 53 41 82 90 00 0D")
"""A well-formed T=1-only ATR: TD1=81 / TD2=31 (T=1, then TA3 IFSC=254, TB3 BWI=4 CWI=5),
historical bytes in compact-TLV (issuer data "KASSA", status 9000), correct TCK. T=1 only, so
pcscd and pyscard negotiate T=1 as a real contact card would."""

CTRL_OFF, CTRL_ON, CTRL_RESET, CTRL_ATR = 0x00, 0x01, 0x02, 0x04
SW_NO_PRECISE_DIAGNOSIS = bytes.fromhex("6F00")

RETRY_INTERVAL = 0.2
"""Pause between connection attempts (pcscd not running yet) and after a lost connection."""
POLL_INTERVAL = 0.25
"""How often an idle card looks at a ``stop`` event set by someone other than :meth:`stop`."""
IO_TIMEOUT = 5.0
"""Longest wait for the rest of a started message or for a reply to be sent."""


class Applet(Protocol):
    """The card itself: what answers APDUs. Called from the card's thread only."""

    def power_on(self) -> None:
        """Card powered (inserted, connected or reset): drop volatile state such as the
        selected application and the PIN-verified flag."""

    def power_off(self) -> None:
        """Power removed (powered down, reset or pulled out). May be called when already off."""

    def process(self, apdu: bytes) -> bytes:
        """Answer one command APDU with response data + SW1 SW2."""


def reader_for_port(readers: list[str], port: int = VPCD_PORT) -> str | None:
    """The name pcscd gives the vpcd reader a card on ``port`` lands in, among ``readers``."""
    slot = port - VPCD_PORT
    suffix = f" {slot:02X}"
    matches = sorted(r for r in readers if r.startswith(READER_PREFIX) and r.endswith(suffix))
    return matches[0] if matches else None


class VirtualCard:
    """One virtual card connected to one vpcd reader, served from a thread.

    ``start()`` inserts the card (it keeps trying while pcscd is not up), ``stop()`` pulls it
    out. After a lost connection (pcscd restarted) the card reconnects by itself, like a card
    left in a reader across a reboot.
    """

    def __init__(self, applet: Applet, host: str = "127.0.0.1", port: int = VPCD_PORT,
                 atr: bytes = DEFAULT_ATR):
        if not 2 <= len(atr) <= 33:
            raise ValueError(f"an ATR has 2 to 33 bytes, got {len(atr)}")
        self.applet = applet
        self.host, self.port, self.atr = host, port, bytes(atr)
        self.inserted = threading.Event()
        """Set while vpcd has accepted the card (it sent a message), cleared when it is out."""
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._powered = False

    def __repr__(self) -> str:
        return f"VirtualCard({self.host}:{self.port}, atr={self.atr.hex()})"

    # -- owning thread -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the thread of :meth:`start` is alive (the card is in, or trying to be)."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> VirtualCard:
        """Insert the card: serve it from a daemon thread until :meth:`stop`."""
        if self.running:
            raise RuntimeError(f"{self!r} is already running")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.run, args=(self._stop,), daemon=True,
                                        name=f"vpcd-card-{self.port}")
        self._thread.start()
        return self

    def stop(self, timeout: float = 5) -> None:
        """Pull the card out: close the connection and wait for the thread to end."""
        self._stop.set()
        with self._lock:
            if self._sock is not None:
                _shutdown(self._sock)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"{self!r} thread did not end within {timeout} s")
            self._thread = None

    # -- the loop ------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Connect, serve, reconnect, until ``stop`` is set.

        Blocking; :meth:`start` runs it in a thread. ``stop`` set by :meth:`stop` ends it at
        once; set by anyone else, within ``POLL_INTERVAL`` (or ``IO_TIMEOUT`` mid-message).
        """
        while not stop.is_set():
            sock = self._connect(stop)
            if sock is None:
                return
            try:
                self._serve(sock, stop)
            finally:
                self._disconnect(sock)
            stop.wait(RETRY_INTERVAL)

    def _connect(self, stop: threading.Event) -> socket.socket | None:
        """A connection to vpcd, retried every ``RETRY_INTERVAL``; None once ``stop`` is set."""
        while not stop.is_set():
            try:
                sock = socket.create_connection((self.host, self.port), timeout=IO_TIMEOUT)
            except OSError as err:
                log.debug("vpcd %s:%s not reachable (%s), retrying", self.host, self.port, err)
                stop.wait(RETRY_INTERVAL)
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:  # stop() either sees this socket or we see its event
                if stop.is_set():
                    sock.close()
                    return None
                self._sock = sock
            log.info("virtual card connected to vpcd at %s:%s", self.host, self.port)
            return sock
        return None

    def _disconnect(self, sock: socket.socket) -> None:
        """Close the connection; for the applet that is losing power."""
        with self._lock:
            self._sock = None
        sock.close()
        self.inserted.clear()
        if self._powered:
            self._power(False)
        log.info("virtual card disconnected from vpcd at %s:%s", self.host, self.port)

    def _serve(self, sock: socket.socket, stop: threading.Event) -> None:
        """Answer vpcd's messages until the connection closes or ``stop`` is set."""
        waiter = selectors.DefaultSelector()  # epoll: no FD_SETSIZE limit, unlike select()
        waiter.register(sock, selectors.EVENT_READ)
        try:
            while not stop.is_set():
                if not waiter.select(POLL_INTERVAL):
                    continue
                message = _recv_message(sock)
                if message is None:
                    return
                self.inserted.set()
                reply = self._dispatch(message)
                if reply is not None:
                    sock.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError as err:  # reset by peer, half a message then silence, ...
            if not stop.is_set():
                log.warning("vpcd connection %s:%s lost: %s", self.host, self.port, err)
        finally:
            waiter.close()

    # -- the protocol --------------------------------------------------------------------------

    def _dispatch(self, message: bytes) -> bytes | None:
        """The reply to one message from vpcd, None for control messages that take none."""
        if len(message) > 1:
            return self._answer(message)
        if len(message) == 0:
            log.warning("vpcd sent an empty message; ignored")
            return None
        code = message[0]
        if code == CTRL_ATR:
            return self.atr
        if code == CTRL_ON:
            self._power(True)
        elif code == CTRL_OFF:
            self._power(False)
        elif code == CTRL_RESET:
            self._power(False)
            self._power(True)
        else:
            log.warning("unknown vpcd control message %02X; ignored", code)
        return None

    def _power(self, on: bool) -> None:
        self._powered = on
        try:
            if on:
                self.applet.power_on()
            else:
                self.applet.power_off()
        except Exception:
            log.exception("applet failed to power %s", "on" if on else "off")

    def _answer(self, apdu: bytes) -> bytes:
        """The applet's response; 6F00 when it fails, so vpcd (and the reader) never hang.

        Only the header and the SW are logged: a VERIFY PIN body is the PIN.
        """
        try:
            response = bytes(self.applet.process(apdu))
        except Exception:
            log.exception("applet failed on APDU %s", apdu[:4].hex())
            return SW_NO_PRECISE_DIAGNOSIS
        if not 2 <= len(response) <= 0xFFFF:
            log.error("applet returned %d bytes for APDU %s; a response has 2..65535",
                      len(response), apdu[:4].hex())
            return SW_NO_PRECISE_DIAGNOSIS
        log.debug("APDU %s (%d bytes) -> SW %s (%d bytes)", apdu[:4].hex(), len(apdu),
                  response[-2:].hex(), len(response))
        return response


def _recv_message(sock: socket.socket) -> bytes | None:
    """One length-prefixed message, None if the connection closed."""
    header = _recv_exact(sock, 2)
    if header is None:
        return None
    (length,) = struct.unpack("!H", header)
    return _recv_exact(sock, length)


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    """Exactly ``size`` bytes (vpcd may send a length and its message separately)."""
    buf = bytearray()
    while len(buf) < size:
        quick_ack(sock)
        chunk = sock.recv(size - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def quick_ack(sock: socket.socket) -> None:
    """Acknowledge what arrives next at once, not after the 40 ms delayed-ACK timer.

    vpcd up to virtualsmartcard 0.8 (Debian 12's vsmartcard-vpcd 3.3; fixed in 0.9) writes a
    message's length and its body with two send() calls, Nagle's algorithm on: the body waits
    until the length is acknowledged. With delayed ACKs that is 40 ms per message, so every
    APDU round trip took 44 ms (p95 88 ms) instead of 0.1 ms. Linux clears the flag by itself,
    so it is set again before every read. A no-op where TCP_QUICKACK does not exist.
    """
    option = getattr(socket, "TCP_QUICKACK", None)
    if option is not None:
        sock.setsockopt(socket.IPPROTO_TCP, option, 1)


def _shutdown(sock: socket.socket) -> None:
    """Wake the thread blocked on ``sock`` (a bare close() does not) and tell vpcd "removed"."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed by the thread or by vpcd

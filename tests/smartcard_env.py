"""Fixtures for tests that need the real PC/SC stack: a running pcscd with the vpcd driver, and
virtual cards inserted into its readers (``kassa.smartcard.vpcd``).

Use from a test module with ``pytest_plugins = ("tests.smartcard_env",)``, or from a conftest
with ``from tests.smartcard_env import pcscd, virtual_card_factory  # noqa: F401``. Scripts
(bench/) use the context managers ``pcscd_session`` and ``inserted_card`` directly.

Debian's ``vsmartcard-vpcd`` package configures pcscd by itself: ``/etc/reader.conf.d/vpcd``
(``DEVICENAME /dev/null:0x8C7B``) loads ``/usr/lib/pcsc/drivers/serial/libifdvpcd.so``, which
gives two readers, "Virtual PCD 00 00" and "Virtual PCD 00 01", waiting for a card on TCP
35963 and 35964. So a plain ``pcscd --foreground`` (as root: it creates ``/run/pcscd``) is all
it takes; ``--auto-exit`` is off unless asked for (only systemd's unit passes it).

There is one pcscd per machine (its socket is ``/run/pcscd/pcscd.comm``). A pcscd that already
answers is reused, provided it has the vpcd readers. Otherwise the first session starts one, and
whichever session (xdist worker, second ``pytest`` in the same checkout, bench) finishes last
stops it; a pcscd that no kassa session started is never stopped. The coordination is done with
file locks under ``$TMPDIR/kassa-pcscd``. A vpcd reader takes one card at a time, so a card also
holds a lock on its port while it is in.

pcscd missing is a failure that says to run ``make bootstrap``, never a skip.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest
from smartcard import scard
from smartcard.CardMonitoring import CardMonitor

from kassa.smartcard.pcsc import end_monitor_thread
from kassa.smartcard.pcscd import PcscdUnavailable, vpcd_readers, wait_ports_free
from kassa.smartcard.vpcd import DEFAULT_ATR, VPCD_PORT, VirtualCard, reader_for_port

PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")
VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
VPCD_CONF = Path("/etc/reader.conf.d/vpcd")
STATE_DIR = Path(tempfile.gettempdir()) / "kassa-pcscd"
BOOTSTRAP = "run `make bootstrap` (it installs pcscd and vsmartcard-vpcd)"
READY_TIMEOUT = 15.0
CARD_TIMEOUT = 5.0
LOCK_TIMEOUT = 120.0

_CHILDREN: dict[int, subprocess.Popen] = {}
"""pcscd processes this process started, kept so that they are waited for, not warned about."""


class SmartcardEnvError(RuntimeError):
    """pcscd or vpcd is missing or misbehaving; the message says what to do."""


# -- reading pcscd's state through pyscard ------------------------------------------------------

def wait_for_card(reader: str, present: bool = True, timeout: float = CARD_TIMEOUT) -> bool:
    """Block until pcscd reports a card in ``reader`` (or none, ``present=False``).

    Event-driven (SCardGetStatusChange returns when the reader's state changes), so it costs
    nothing while waiting and returns as soon as pcscd knows.
    """
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    _check(hresult, "SCardEstablishContext")
    try:
        deadline = time.monotonic() + timeout
        known = scard.SCARD_STATE_UNAWARE
        while True:
            wait_ms = max(0, int((deadline - time.monotonic()) * 1000))
            hresult, states = scard.SCardGetStatusChange(context, wait_ms, [(reader, known)])
            if hresult == scard.SCARD_E_TIMEOUT:
                return False
            _check(hresult, f"SCardGetStatusChange({reader!r})")
            state = states[0][1]
            if bool(state & scard.SCARD_STATE_PRESENT) == present:
                return True
            known = state & ~scard.SCARD_STATE_CHANGED
    finally:
        scard.SCardReleaseContext(context)


def _check(hresult: int, what: str) -> None:
    if hresult != scard.SCARD_S_SUCCESS:
        raise SmartcardEnvError(f"{what}: {scard.SCardGetErrorMessage(hresult)}")


def stop_card_monitor(timeout: float = 5.0) -> None:
    """End pyscard's CardMonitor thread (``kassa.smartcard.pcsc.end_monitor_thread``) and
    forget the monitor, so the next test starts from nothing."""
    end_monitor_thread(timeout)
    CardMonitor.instance = None


# -- cross-process coordination ------------------------------------------------------------------

def _lock_file(name: str) -> IO[bytes]:
    STATE_DIR.mkdir(mode=0o755, exist_ok=True)
    return open(STATE_DIR / name, "ab")  # the lock lives as long as this handle


def _flock(handle: IO[bytes], mode: int, name: str, timeout: float = LOCK_TIMEOUT) -> None:
    """flock with a deadline (flock itself waits forever), tried every 50 ms."""
    pause = threading.Event()
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(handle, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise SmartcardEnvError(f"{STATE_DIR / name} still locked by another process "
                                        f"after {timeout:.0f} s") from None
            pause.wait(0.05)


@contextmanager
def _exclusive(name: str) -> Iterator[None]:
    """One process at a time decides whether to start or stop pcscd."""
    handle = _lock_file(name)
    try:
        _flock(handle, fcntl.LOCK_EX, name)
        yield
    finally:
        handle.close()  # releases the lock


# -- starting and stopping pcscd ----------------------------------------------------------------

@dataclass
class Pcscd:
    """The pcscd a session uses."""

    readers: list[str]
    """Its vpcd readers, slot order: ``readers[0]`` takes the card on port 35963."""
    started: bool
    """Whether this session started it (False: reused one that was already answering)."""
    log: Path | None
    """Its ``--debug`` output, when a kassa session started it."""

    def reader(self, port: int = VPCD_PORT) -> str:
        """The reader a card on ``port`` shows up in ("Virtual PCD 00 00" for 35963)."""
        name = reader_for_port(self.readers, port)
        if name is None:
            raise LookupError(f"no vpcd reader for port {port} among {self.readers}")
        return name


@contextmanager
def pcscd_session(log: Path) -> Iterator[Pcscd]:
    """A pcscd with the vpcd readers while in the block; started (log to ``log``) if needed."""
    info, users = _acquire(log)
    try:
        yield info
    finally:
        try:
            stop_card_monitor()
        finally:
            _release(users)


def _acquire(log: Path) -> tuple[Pcscd, IO[bytes]]:
    """Join the pcscd users (a shared lock held until release), starting pcscd if need be."""
    with _exclusive("lock"):
        users = _lock_file("users")
        fcntl.flock(users, fcntl.LOCK_SH)  # never waits long: releases take "lock" first
        try:
            found = vpcd_readers()
            if found:
                return Pcscd(found, started=False, log=_owner_log()), users
            if found is not None:
                raise SmartcardEnvError(
                    f"a pcscd is running ({PCSCD_SOCKET}) without the vpcd readers: "
                    f"{BOOTSTRAP}, then restart that pcscd (it reads {VPCD_CONF.parent} "
                    "when it starts)")
            try:
                wait_ports_free()  # a pcscd stopped a moment ago may still hold them
            except PcscdUnavailable as err:
                raise SmartcardEnvError(str(err)) from None
            pid = _start_pcscd(log)
            return Pcscd(_wait_ready(pid, log), started=True, log=log), users
        except BaseException:
            users.close()
            _stop_owned_pcscd()
            raise


def _release(users: IO[bytes]) -> None:
    """Leave the users; the last one out stops the pcscd a kassa session started."""
    with _exclusive("lock"):
        users.close()
        probe = _lock_file("users")
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # another session still uses it
        finally:
            probe.close()
        _stop_owned_pcscd()


def _pcscd_binary() -> str:
    found = shutil.which("pcscd", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if found is None:
        raise SmartcardEnvError(f"pcscd is not installed: {BOOTSTRAP}")
    return found


def _start_pcscd(log: Path) -> int:
    """Start pcscd in the background, in its own session so ^C reaches only us; its pid."""
    binary = _pcscd_binary()
    for path in (VPCD_DRIVER, VPCD_CONF):
        if not path.exists():
            raise SmartcardEnvError(f"the vpcd driver is not installed ({path} missing): "
                                    f"{BOOTSTRAP}")
    with open(log, "ab") as out:
        proc = subprocess.Popen([binary, "--foreground", "--debug"], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    _CHILDREN[proc.pid] = proc
    (STATE_DIR / "owner").write_text(f"{proc.pid} {_start_time(proc.pid)} {log}\n")
    return proc.pid


def _wait_ready(pid: int, log: Path) -> list[str]:
    """The vpcd readers once pcscd lists them; fails with pcscd's log if it does not."""
    pause = threading.Event()
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline and _alive(pid):
        found = vpcd_readers()
        if found:
            return found
        pause.wait(0.05)
    tail = "".join(log.read_text(errors="replace").splitlines(True)[-30:])
    root = "" if os.geteuid() == 0 else " (pcscd needs root to create /run/pcscd)"
    raise SmartcardEnvError(f"pcscd (pid {pid}) did not list the vpcd readers within "
                            f"{READY_TIMEOUT:.0f} s{root}; last lines of {log}:\n{tail}")


def _stop_owned_pcscd() -> None:
    """SIGTERM (then SIGKILL) the pcscd recorded in STATE_DIR/owner, if it is still that one."""
    owner = STATE_DIR / "owner"
    try:
        pid_text, started, _log = owner.read_text().split(" ", 2)
    except (FileNotFoundError, ValueError):
        return
    pid = int(pid_text)
    if _alive(pid) and _start_time(pid) == started:
        os.kill(pid, signal.SIGTERM)
        if not _wait_gone(pid, 10.0):
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 5.0)
    owner.unlink(missing_ok=True)


def _owner_log() -> Path | None:
    try:
        return Path((STATE_DIR / "owner").read_text().split(" ", 2)[2].strip())
    except (FileNotFoundError, IndexError):
        return None


def _proc_stat(pid: int) -> list[str]:
    """/proc/pid/stat after the command name: [state, ppid, ...]; [] if there is no such pid."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return []


def _start_time(pid: int) -> str:
    """Field 22 of /proc/pid/stat: with the pid, it names one process (pids get reused)."""
    stat = _proc_stat(pid)
    return stat[19] if stat else ""


def _alive(pid: int) -> bool:
    """Running, not a zombie (the pcscd another, still living, worker started is its child)."""
    stat = _proc_stat(pid)
    return bool(stat) and stat[0] != "Z"


def _wait_gone(pid: int, timeout: float) -> bool:
    """Wait for ``pid`` to exit; reaped if this process started it."""
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        try:
            child.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            _CHILDREN[pid] = child
            return False
    pause = threading.Event()
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        pause.wait(0.05)
    return True


# -- cards ---------------------------------------------------------------------------------------

@contextmanager
def inserted_card(pcscd: Pcscd, applet, atr: bytes = DEFAULT_ATR, port: int = VPCD_PORT,
                  wait: bool = True) -> Iterator[VirtualCard]:
    """A started VirtualCard holding the lock of ``port`` while in the block.

    With ``wait`` it is yielded once pcscd reports the card present. On the way out the card is
    stopped and the reader seen empty again, so the next card starts from an empty reader.
    """
    reader = pcscd.reader(port)
    slot = None if port in _RESERVED else _lock_file(f"vpcd-{port}.lock")
    try:
        if slot is not None:
            _flock(slot, fcntl.LOCK_EX, f"vpcd-{port}.lock")
        card = VirtualCard(applet, port=port, atr=atr).start()
        try:
            if wait and not wait_for_card(reader, present=True):
                raise SmartcardEnvError(f"pcscd did not see the virtual card in {reader!r} "
                                        f"within {CARD_TIMEOUT:.0f} s")
            yield card
        finally:
            card.stop()
            if not wait_for_card(reader, present=False):
                raise SmartcardEnvError(f"{reader!r} still holds a card after stop()")
    finally:
        if slot is not None:
            slot.close()


_RESERVED: dict[int, IO[bytes]] = {}
"""Ports this process holds for a whole test (``reserved_reader``); cards put in them take no
lock of their own."""


@contextmanager
def reserved_reader(pcscd: Pcscd, port: int = VPCD_PORT) -> Iterator[str]:
    """Hold a virtual reader for the block, cards or not: for a test whose code watches the
    reader (a till's CardReader) and must see no other test's card, nor disturb one."""
    name = f"vpcd-{port}.lock"
    handle = _lock_file(name)
    try:
        _flock(handle, fcntl.LOCK_EX, name)
        _RESERVED[port] = handle
        yield pcscd.reader(port)
    finally:
        _RESERVED.pop(port, None)
        handle.close()


# -- fixtures ------------------------------------------------------------------------------------

@contextmanager
def _failing_test() -> Iterator[None]:
    """An environment problem fails the test with its message alone, no traceback."""
    try:
        yield
    except SmartcardEnvError as err:
        pytest.fail(str(err), pytrace=False)


@pytest.fixture(scope="session")
def pcscd(tmp_path_factory) -> Iterator[Pcscd]:
    """A pcscd with the vpcd readers for the whole session (see the module docstring)."""
    with _failing_test(), pcscd_session(tmp_path_factory.mktemp("pcscd") / "pcscd.log") as info:
        yield info


@pytest.fixture
def virtual_card_factory(pcscd) -> Iterator:
    """``make(applet, atr=DEFAULT_ATR, port=35963, wait=True) -> VirtualCard``: an inserted
    card (see ``inserted_card``), pulled out after the test. One card per port per test: to
    pull it out and put it back, ``stop()`` and ``start()`` it."""
    ports: set[int] = set()
    with _failing_test(), ExitStack() as cards:
        def make(applet, atr: bytes = DEFAULT_ATR, port: int = VPCD_PORT,
                 wait: bool = True) -> VirtualCard:
            if port in ports:
                raise ValueError(f"this test already has a card on port {port}")
            ports.add(port)
            with _failing_test():
                return cards.enter_context(inserted_card(pcscd, applet, atr, port, wait))

        yield make

"""pcscd on a machine without systemd: whether one answers with vpcd's virtual readers, and
the command that starts one. ``kassa demo`` uses it; it owns the pcscd it starts (a
``kassa.common.runtime.processes.Supervisor`` child) and never stops one it found running.

Debian's ``vsmartcard-vpcd`` configures pcscd by itself (``/etc/reader.conf.d/vpcd`` loads the
driver), so ``pcscd --foreground`` is all it takes, as root: pcscd creates ``/run/pcscd``.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import threading
import time
from pathlib import Path

from smartcard import scard
from smartcard.Exceptions import SmartcardException
from smartcard.pcsc.PCSCExceptions import BaseSCardException
from smartcard.System import readers as pcsc_readers

from kassa.smartcard.vpcd import READER_PREFIX, VPCD_PORT

VPCD_PORTS = (VPCD_PORT, VPCD_PORT + 1)

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
VPCD_CONF = Path("/etc/reader.conf.d/vpcd")
INSTALL = "`make bootstrap` installs pcscd and vsmartcard-vpcd"


class PcscdUnavailable(RuntimeError):
    """No pcscd with the vpcd readers can be had; the message says why, for a person."""


def vpcd_readers() -> list[str] | None:
    """The vpcd readers of the pcscd that answers, in slot order; None when none answers."""
    try:
        names = [str(r) for r in pcsc_readers()]
    except (SmartcardException, BaseSCardException):  # "Service not available", mostly
        return None
    return sorted(n for n in names if n.startswith(READER_PREFIX))


def running_readers() -> list[str] | None:
    """The vpcd readers of a pcscd already running, None when no pcscd answers; a pcscd
    without them is refused (it reads its drivers' configuration only when it starts)."""
    found = vpcd_readers()
    if found == []:
        raise PcscdUnavailable(f"a pcscd is running without the vpcd readers ({INSTALL}; "
                               "then restart that pcscd)")
    return found


def card_present(reader: str) -> bool:
    """Whether pcscd reports a card in ``reader`` now (asked without touching the card)."""
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        return False
    try:
        hresult, states = scard.SCardGetStatusChange(context, 0,
                                                     [(reader, scard.SCARD_STATE_UNAWARE)])
        return hresult == scard.SCARD_S_SUCCESS and bool(states[0][1] & scard.SCARD_STATE_PRESENT)
    finally:
        scard.SCardReleaseContext(context)


def pcscd_command() -> list[str]:
    """The command that runs pcscd with the vpcd readers in the foreground."""
    binary = shutil.which("pcscd", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if binary is None:
        raise PcscdUnavailable(f"pcscd is not installed ({INSTALL})")
    for path in (VPCD_DRIVER, VPCD_CONF):
        if not path.exists():
            raise PcscdUnavailable(f"the vpcd driver is not installed, {path} is missing "
                                   f"({INSTALL})")
    return [binary, "--foreground"]


def needs_root_hint() -> str:
    """Why a pcscd started by this user may have failed, or ""."""
    return "" if os.geteuid() == 0 else " (pcscd needs root: it creates /run/pcscd)"


def wait_ports_free(timeout: float = 70.0) -> None:
    """Wait until vpcd's ports can be listened on again. The driver binds them without
    SO_REUSEADDR, so for a minute after a pcscd stopped with a card connected (TCP TIME_WAIT)
    a new pcscd comes up without that reader; this waits that minute out instead."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    for port in VPCD_PORTS:
        while True:
            with socket.socket() as probe:
                try:
                    probe.bind(("0.0.0.0", port))
                    break
                except OSError as err:
                    if err.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                        raise PcscdUnavailable(f"port {port} for the virtual reader is taken "
                                               f"({err.strerror})") from err
            pause.wait(0.5)

"""The till's side of PC/SC: a pyscard connection as the reader's ``Transport``."""

from __future__ import annotations

import time

from smartcard import scard
from smartcard.CardMonitoring import CardMonitoringThread
from smartcard.Exceptions import CardConnectionException, NoCardException
from smartcard.System import readers

from kassa.smartcard.reader import CardError


class PcscTransport:
    """One connection to the card in a named reader (T=1), closed with ``close()``."""

    def __init__(self, reader_name: str):
        matches = [r for r in readers() if str(r) == reader_name]
        if not matches:
            raise CardError(f"No card reader {reader_name!r}.", "reader_not_found")
        self.connection = matches[0].createConnection()
        try:
            self.connection.connect()
        except (NoCardException, CardConnectionException) as err:
            self.close()
            raise CardError("No card in the reader.", "card_absent") from err

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        try:
            data, sw1, sw2 = self.connection.transmit(list(apdu))
        except CardConnectionException as err:
            raise CardError("The card was taken out.", "card_unreadable") from err
        return bytes(data), (sw1 << 8) | sw2

    def close(self) -> None:
        """Disconnect and release the PC/SC context now, not when the object is collected
        (by then pcscd may be gone, and pyscard's destructor raises)."""
        try:
            self.connection.release()
        except CardConnectionException:
            pass  # the card or pcscd is gone already


def end_monitor_thread(timeout: float = 5.0) -> None:
    """Stop pyscard's CardMonitor thread now, while pcscd still answers.

    The thread is a process-wide singleton; its wait is an SCardGetStatusChange of up to 60 s
    that ``deleteObserver`` would sit out. SCardCancel cuts it short (re-sent: one sent between
    two waits is lost). Afterwards the singleton is empty, so the next observer starts a fresh
    thread.
    """
    thread = CardMonitoringThread.instance
    if thread is None:
        return
    thread.stop()
    deadline = time.monotonic() + timeout
    while thread.is_alive() and time.monotonic() < deadline:
        request = getattr(thread.cardrequest, "pcsccardrequest", None)
        if request is not None:
            scard.SCardCancel(request.hcontext)
        thread.join(0.1)
    CardMonitoringThread.instance = None

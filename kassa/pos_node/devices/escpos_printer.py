"""The receipt printer: any ESC/POS printer, through python-escpos, on the connection
``KASSA_PRINTER`` names (network, USB, serial, CUPS, a device file). It prints ``slips``,
kicks the cash drawer wired to it, and says what state it is in.

The state comes from the printer's real-time status answers (``DLE EOT n``: printer,
off-line cause, paper sensor) where the connection reads them, which a network printer does;
over a connection that cannot answer the printer is taken as ready and a failed write is the
only sign of trouble. Text goes in one fixed code page (CP866 for a Russian store, else the
config's or CP858), so that what the till sends is what the paper shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from escpos.constants import RT_STATUS
from escpos.escpos import Escpos
from escpos.exceptions import Error as EscposError

from kassa.common.config import PrinterConfig
from kassa.pos_node.devices.slips import Slip

# The printer's real-time status answers (ESC/POS command reference, DLE EOT n): which bits
# of the answer byte mean what.
OFFLINE = 0x08              # n=1: off-line
COVER_OPEN = 0x04           # n=2: the cover is open
PAPER_STOP = 0x20           # n=2: printing stopped at the paper's end
ERROR = 0x40                # n=2: an error (cutter, head too hot)
NEAR_END = 0x0C             # n=4: the roll is near its end
PAPER_OUT = 0x60            # n=4: no paper

# Locale -> code page when KASSA_PRINTER_CODEPAGE does not say.
CODEPAGES = {"ru": "CP866"}
DEFAULT_CODEPAGE = "CP858"
# Characters the code page may not have, and what prints instead.
FALLBACKS = {"₽": "руб.", "€": "EUR", "•": "*", "−": "-", "×": "x", "·": "-", "…": "...",
             "«": '"', "»": '"', "—": "-", "–": "-", "№": "N"}


class PrinterFailed(Exception):
    """The printer could not be reached or refused the data: the job stays queued."""


@dataclass(frozen=True)
class PrinterState:
    """``ready``, ``paper_low`` (prints), ``no_paper``, ``cover_open``, ``offline``,
    ``error``, ``unreachable``, or ``unknown`` (the connection cannot read answers)."""

    state: str

    @property
    def can_print(self) -> bool:
        return self.state in ("ready", "paper_low", "unknown")


class ReceiptPrinter(Protocol):
    """What the print worker needs of a printer: one connection per round of jobs."""

    def __enter__(self) -> ReceiptPrinter: ...
    def __exit__(self, *exc) -> None: ...
    def state(self) -> PrinterState: ...
    def print_slip(self, slip: Slip) -> None: ...
    def kick(self) -> None: ...


def open_device(url: str, profile: str, timeout: float = 3.0) -> tuple[Escpos, bool]:
    """python-escpos's printer for ``url``, and whether the connection reads status answers."""
    from escpos import printer

    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if parts.scheme == "tcp":
        return printer.Network(parts.hostname or "", parts.port or 9100, timeout=timeout,
                               profile=profile), True
    if parts.scheme == "usb":
        vendor, _, product = parts.netloc.partition(":")
        return printer.Usb(int(vendor, 16), int(product, 16), timeout=int(timeout * 1000),
                           profile=profile), False
    if parts.scheme == "serial":
        return printer.Serial(parts.path, int(query.get("baudrate", 9600)), timeout=timeout,
                              profile=profile), False
    if parts.scheme == "cups":
        return printer.LP(parts.netloc, profile=profile), False
    return printer.File(parts.path, profile=profile), False


def _fit(text: str, width: int) -> str:
    """A line made longer by a fallback (``₽`` -> ``руб.``) kept to its width by taking the
    extra characters out of its widest gap, so the amounts stay in their column."""
    extra = len(text) - width
    gaps = sorted(re.finditer(r" {2,}", text), key=lambda m: len(m.group()))
    if extra <= 0 or not gaps or len(gaps[-1].group()) - extra < 1:
        return text
    gap = gaps[-1]
    return text[:gap.start()] + " " * (len(gap.group()) - extra) + text[gap.end():]


class EscposPrinter:
    """A configured printer; ``with printer:`` opens its connection for a round of jobs."""

    def __init__(self, config: PrinterConfig, locale: str):
        self.config = config
        self.codepage = config.codepage or CODEPAGES.get(locale, DEFAULT_CODEPAGE)
        self.device: Escpos | None = None
        self.reads_status = False

    def __enter__(self) -> EscposPrinter:
        try:
            self.device, self.reads_status = open_device(self.config.url, self.config.profile)
            self.device.open()
        except (OSError, EscposError, ValueError) as err:
            self.device = None
            raise PrinterFailed(f"cannot reach the printer: {err}") from err
        return self

    def __exit__(self, *exc) -> None:
        if self.device is not None:
            self.device.close()
            self.device = None

    def _query(self, n: int) -> int | None:
        assert self.device is not None
        try:
            answer = self.device.query_status(RT_STATUS + bytes([n]))
        except (OSError, EscposError, NotImplementedError):
            return None
        return answer[-1] if answer else None

    def state(self) -> PrinterState:
        if not self.reads_status:
            return PrinterState("unknown")
        printer, cause, paper = self._query(1), self._query(2), self._query(4)
        if printer is None:
            return PrinterState("unreachable")
        if cause is not None and cause & COVER_OPEN:
            return PrinterState("cover_open")
        if (paper is not None and paper & PAPER_OUT == PAPER_OUT) or (
                cause is not None and cause & PAPER_STOP):
            return PrinterState("no_paper")
        if cause is not None and cause & ERROR:
            return PrinterState("error")
        if printer & OFFLINE:
            return PrinterState("offline")
        if paper is not None and paper & NEAR_END == NEAR_END:
            return PrinterState("paper_low")
        return PrinterState("ready")

    def _text(self, text: str) -> str:
        """``text`` with what the code page lacks replaced by what prints instead."""
        assert self.device is not None
        encoder = self.device.magic.encoder
        text = text.replace("\u00a0", " ").replace("\u202f", " ")
        try:
            printed = "".join(ch if encoder.can_encode(self.codepage, ch)
                              else FALLBACKS.get(ch, "?") for ch in text)
        except KeyError:  # a code page this python-escpos does not know: its own "?"
            return text
        return _fit(printed, len(text))

    def print_slip(self, slip: Slip) -> None:
        assert self.device is not None
        p = self.device
        try:
            p.hw("INIT")
            p.magic.encoding = None  # INIT went back to the printer's own code page
            try:
                p.charcode(self.codepage)
            except ValueError:  # not in this printer's profile: let python-escpos choose
                p.charcode("AUTO")
            for row in slip.rows:
                p.set(align="center" if row.center else "left", bold=row.bold,
                      double_height=row.big, normal_textsize=not row.big)
                p.textln(self._text(row.text))
            p.set(align="center", bold=False, normal_textsize=True)
            if slip.code:
                if p.profile.supports("qrCode"):
                    p.qr(slip.code, size=6, native=True)
                else:
                    p.barcode("{B" + slip.code, "CODE128", function_type="B")
            p.cut()
        except (OSError, EscposError) as err:
            raise PrinterFailed(f"printing failed: {err}") from err

    def kick(self) -> None:
        assert self.device is not None
        try:
            self.device.cashdraw(self.config.drawer_pin)
        except (OSError, EscposError) as err:
            raise PrinterFailed(f"the drawer kick failed: {err}") from err

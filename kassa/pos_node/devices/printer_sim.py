"""A virtual ESC/POS network printer, for the tests and the demo (``kassa printer-sim``).

It listens on TCP as a printer's port 9100 does, keeps every byte it is sent, and answers the
real-time status requests (``DLE EOT n``) the way the ESC/POS command reference describes the
answer bytes: fixed bits 1 and 4 set (0x12), and per request the off-line bit, the cover and
paper-end bits of the off-line cause, the near-end and end bits of the roll sensor. Its paper
can run out and its cover open (``paper``, ``cover_open``). ``decode`` turns what it was sent
back into the text on the paper, reading each code page switch (``ESC t n``) through the
printer profile's table, so a test reads a Russian receipt as the customer would.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

from escpos.capabilities import get_profile
from escpos.magicencode import Encoder

from kassa.common.storage.private import write_private

DLE_EOT = b"\x10\x04"
CUT = "--- cut ---"
KEEP_SLIPS = 20


class VirtualPrinter:
    """Start with ``start()``, stop with ``stop()``; ``data`` is everything it was sent but
    the status requests; ``text_file`` gets the last slips as text after every cut."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, text_file: Path | None = None,
                 columns: int = 48, profile: str = "default"):
        self.data = bytearray()
        self.paper = "ok"          # ok, low, out
        self.cover_open = False
        self.columns = columns
        self.profile = profile
        self.text_file = text_file
        self.status_requests = 0
        self._lock = threading.Lock()
        self._sock = socket.create_server((host, port))
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name="printer-sim", daemon=True)
        self._stopping = False

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def start(self) -> VirtualPrinter:
        self._thread.start()
        return self

    def join(self) -> None:
        """Until ``stop()`` (the ``kassa printer-sim`` command's life)."""
        while self._thread.is_alive():
            self._thread.join(timeout=0.5)

    def stop(self) -> None:
        self._stopping = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        while not self._stopping:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        with conn:
            while True:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                self._take(conn, chunk)

    def _take(self, conn: socket.socket, chunk: bytes) -> None:
        """Answer the status requests in ``chunk`` and keep the rest."""
        rest = bytearray()
        i = 0
        while i < len(chunk):
            if chunk[i:i + 2] == DLE_EOT and i + 2 < len(chunk) and chunk[i + 2] in (1, 2, 3, 4):
                self.status_requests += 1
                conn.sendall(bytes([self.answer(chunk[i + 2])]))
                i += 3
                continue
            rest.append(chunk[i])
            i += 1
        with self._lock:
            self.data += rest
        if self.text_file is not None and b"\x1dV" in rest:
            self._write_text()

    def answer(self, n: int) -> int:
        """The status byte for ``DLE EOT n``."""
        out = self.paper == "out"
        byte = 0x12
        if n == 1 and (out or self.cover_open):
            byte |= 0x08
        if n == 2:
            byte |= (0x04 if self.cover_open else 0) | (0x20 if out else 0)
        if n == 4:
            byte |= 0x60 if out else (0x0C if self.paper == "low" else 0)
        return byte

    def text(self) -> str:
        with self._lock:
            return decode(bytes(self.data), self.columns, self.profile)

    def slips(self) -> list[str]:
        """What it printed, one text per cut."""
        return [s.strip("\n") for s in self.text().split(CUT) if s.strip()]

    def drawer_kicks(self) -> int:
        with self._lock:
            return bytes(self.data).count(b"\x1bp")

    def _write_text(self) -> None:
        assert self.text_file is not None
        slips = self.slips()[-KEEP_SLIPS:]
        # What a receipt says of a customer is people's data: private like the till's files.
        write_private(self.text_file, f"\n{CUT}\n\n".join(slips) + f"\n{CUT}\n")


# Commands the decoder skips, by their bytes after ESC or GS: how many parameter bytes follow.
_ESC_ARGS = {ord(c): n for c, n in (("@", 0), ("2", 0), ("a", 1), ("E", 1), ("-", 1),
                                    ("M", 1), ("!", 1), ("{", 1), ("G", 1), ("d", 1),
                                    ("J", 1), ("3", 1), ("=", 1), ("r", 1), ("t", 1),
                                    ("p", 3), ("c", 2), ("B", 2))}
_GS_ARGS = {ord(c): n for c, n in (("!", 1), ("B", 1), ("b", 1), ("|", 1), ("H", 1),
                                   ("f", 1), ("h", 1), ("w", 1), ("L", 2), ("W", 2))}


class _Paper:
    def __init__(self, columns: int, profile: str):
        self.columns = columns
        self.pages = get_profile(profile).get_code_pages()  # name -> number
        self.by_number = {int(n): name for name, n in self.pages.items()}
        self.lines: list[str] = []
        self.line: list[str] = []
        self.center = False
        self.codepage = "CP437"
        self.qr = ""
        self._tables: dict[str, list[str]] = {}

    def char(self, byte: int) -> None:
        if byte < 0x80:
            self.line.append(chr(byte))
            return
        if self.codepage not in self._tables:
            self._tables[self.codepage] = Encoder._get_codepage_char_list(self.codepage)
        self.line.append(self._tables[self.codepage][byte - 0x80])

    def newline(self) -> None:
        text = "".join(self.line).rstrip()
        self.lines.append(text.center(self.columns).rstrip() if self.center else text)
        self.line = []

    def block(self, text: str) -> None:
        if self.line:
            self.newline()
        self.lines.append(text.center(self.columns).rstrip())


def decode(data: bytes, columns: int = 48, profile: str = "default") -> str:
    """The text ``data`` puts on paper: code pages read, centred lines centred, a QR code or a
    barcode as ``[QR ...]`` / ``[barcode ...]``, each cut as ``--- cut ---``."""
    paper = _Paper(columns, profile)
    i = 0
    while i < len(data):
        b = data[i]
        if b == 0x1B and i + 1 < len(data):  # ESC
            i = _esc(paper, data, i)
        elif b == 0x1D and i + 1 < len(data):  # GS
            i = _gs(paper, data, i)
        elif b == 0x0A:
            paper.newline()
            i += 1
        else:
            if b >= 0x20:
                paper.char(b)
            i += 1
    if paper.line:
        paper.newline()
    return "\n".join(paper.lines) + "\n"


def _esc(paper: _Paper, data: bytes, i: int) -> int:
    cmd = data[i + 1]
    args = data[i + 2:i + 2 + _ESC_ARGS.get(cmd, 0)]
    if cmd == ord("@"):
        paper.codepage, paper.center = "CP437", False
    elif cmd == ord("t") and args:
        paper.codepage = paper.by_number.get(args[0], "CP437")
    elif cmd == ord("a") and args:
        paper.center = args[0] in (1, 49)
    return i + 2 + _ESC_ARGS.get(cmd, 0)


def _gs(paper: _Paper, data: bytes, i: int) -> int:
    cmd = data[i + 1]
    if cmd == ord("V"):  # cut: GS V m, or GS V m n for m 65/66
        m = data[i + 2] if i + 2 < len(data) else 0
        paper.block(CUT)
        return i + (4 if m in (65, 66, 97, 98, 103, 104) else 3)
    if cmd == ord("(") and i + 4 < len(data):  # GS ( k pL pH cn fn ...: 2D codes
        size = data[i + 3] + 256 * data[i + 4]
        body = data[i + 5:i + 5 + size]
        if data[i + 2] == ord("k") and len(body) >= 2:
            if body[1] == 80:  # store the data: cn fn m d...
                paper.qr = body[3:].decode("utf-8", "replace")
            elif body[1] == 81:  # print it
                paper.block(f"[QR {paper.qr}]")
        return i + 5 + size
    if cmd == ord("k") and i + 2 < len(data):  # barcode: GS k m d... NUL, or GS k m n d...
        m = data[i + 2]
        if m <= 6:
            end = data.index(0, i + 3) if 0 in data[i + 3:] else len(data)
            code, nxt = data[i + 3:end], end + 1
        else:
            n = data[i + 3]
            code, nxt = data[i + 4:i + 4 + n], i + 4 + n
        paper.block(f"[barcode {code.decode('ascii', 'replace').removeprefix('{B')}]")
        return nxt
    if cmd == ord("v") and i + 7 < len(data):  # raster image: GS v 0 m xL xH yL yH d...
        width, height = data[i + 4] + 256 * data[i + 5], data[i + 6] + 256 * data[i + 7]
        paper.block("[image]")
        return i + 8 + width * height
    return i + 2 + _GS_ARGS.get(cmd, 0)

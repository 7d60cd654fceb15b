"""``kassa i18n ...`` (keeping the message catalogs whole), ``kassa demo`` (what ``make demo``
runs), ``kassa dev ...`` (stand-ins for store devices, for the demo and tests) and ``kassa
printer-sim`` (the demo's virtual receipt printers)."""

from __future__ import annotations

import click


@click.group("i18n", help="The message catalogs (kassa/translations): update and check.")
def i18n() -> None:
    pass


@i18n.command("update")
@click.option("--fill", "fills", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help='translations to add: JSON {"ru": {"English text": "перевод", '
                   '"%(n)s point": ["форма 1", "форма 2", "форма 5"]}}')
def i18n_update(fills: tuple[str, ...]) -> None:
    """Bring both catalogs in line with the code, templates and scripts."""
    from pathlib import Path

    from kassa.common import i18n_tools
    missing = i18n_tools.update(i18n_tools.read_fills([Path(f) for f in fills]))
    for loc, count in missing.items():
        click.echo(f"{loc}: {count} message(s) without a translation")


@i18n.command("check")
def i18n_check() -> None:
    """List what is untranslated or missing; exit 1 if anything is."""
    from kassa.common import i18n_tools
    found = i18n_tools.problems()
    for line in found:
        click.echo(line)
    if found:
        raise SystemExit(1)
    click.echo("the catalogs are complete")



@click.group("dev", help="Stand-ins for the store's devices (demo and tests; not for a shop).")
def dev() -> None:
    pass


@dev.command("fiscal-sim")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=16732, show_default=True, type=int,
              help="the ATOL driver's web server's port")
def fiscal_sim(host: str, port: int) -> None:
    """A simulated ATOL fiscal register behind its driver's web server (JSON tasks over HTTP);
    point a till at it with KASSA_FISCAL=atol+http://HOST:PORT. Its tape: /sim/journal.txt."""
    import signal
    import threading

    from kassa.pos_node.devices.atol_simulator import Simulator
    sim = Simulator(host, port).start()
    click.echo(f"fiscal register simulator at {sim.url} (its tape: {sim.url}/sim/journal.txt)")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()


@click.command("demo")
@click.option("--port", default=8700, show_default=True, type=int,
              help="central's port; the nodes take the next ones")
def demo(port: int) -> None:
    """Start central and two POS nodes with demo data; Ctrl-C stops them all."""
    from kassa.demo import run_demo
    run_demo(port)


@click.command("printer-sim")
@click.option("--port", default=9100, show_default=True, type=int)
@click.option("--text", "text_file", type=click.Path(dir_okay=False), required=True,
              help="where the last receipts it printed are written as text")
@click.option("--width", default=80, show_default=True, type=click.Choice(["58", "80"]),
              help="the paper's width in mm")
def printer_sim(port: int, text_file: str, width: str) -> None:
    """A virtual ESC/POS network printer (for the demo and trying a till): point a till's
    KASSA_PRINTER at tcp://127.0.0.1:PORT; what it prints appears in the text file."""
    import signal
    from pathlib import Path

    from kassa.pos_node.devices.printer_sim import VirtualPrinter
    sim = VirtualPrinter(port=port, text_file=Path(text_file),
                         columns=32 if width == "58" else 48).start()
    click.echo(f"virtual receipt printer at {sim.url}, printing to {text_file}")
    signal.signal(signal.SIGTERM, lambda *_: sim.stop())
    try:
        sim.join()
    except KeyboardInterrupt:
        sim.stop()

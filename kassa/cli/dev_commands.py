"""``kassa i18n ...`` (keeping the message catalogs whole), ``kassa demo`` (what ``make demo``
runs) and ``kassa dev ...`` (stand-ins for store devices, for the demo and tests)."""

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

"""The ``kassa`` command: one entry point for central, the POS node and the demo.

Each group lives in its own module (``central_commands``, ``pos_commands``, ``card_commands``,
``dev_commands``: the i18n tools, the demo and its virtual receipt printer); ``apps`` holds
what they share. ``kassa central ...`` and ``kassa pos ...`` are Flask CLI groups, so Flask's
own ``routes`` and ``shell`` work against each app as well.
"""

from __future__ import annotations

import click

from kassa.cli.card_commands import card
from kassa.cli.central_commands import central
from kassa.cli.dev_commands import demo, dev, i18n, printer_sim
from kassa.cli.pos_commands import pos


@click.group(help="kassa: retail CRM around the point of sale.\n\n"
                  "Start with `make demo`; see the README for every environment variable.")
@click.version_option(package_name="kassa")
def main() -> None:
    pass


for command in (central, pos, card, i18n, demo, dev, printer_sim):
    main.add_command(command)

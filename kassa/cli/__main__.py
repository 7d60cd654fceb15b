"""``python -m kassa.cli``: the ``kassa`` command without its console script (the demo and
the tests start processes this way)."""

from kassa.cli import main

main()

"""POS node: the till over a local SQLite replica; ``create_app()`` builds it.

The app is imported when it is built, not with the package: a command or a migration that
needs one of the till's modules does not load every blueprint (or pyscard's reader).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from kassa.common.config import NodeConfig


def create_app(config: NodeConfig | None = None) -> Flask:
    from kassa.pos_node.app import create_app as build
    return build(config)

"""POS node: the till over a local SQLite replica; ``create_app()`` builds it."""

from kassa.pos_node.app import create_app

__all__ = ["create_app"]

"""Central: authorization of operations, master data, reports; ``create_app()`` builds it."""

from kassa.central.app import create_app

__all__ = ["create_app"]

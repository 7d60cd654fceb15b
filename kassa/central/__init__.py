"""Central: authorization of operations, master data, reports; ``create_app()`` builds it.

The app is imported when it is built, not with the package: a command or a migration that
needs one of central's modules (its models, a service) does not load every blueprint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from kassa.common.config import CentralConfig


def create_app(config: CentralConfig | None = None) -> Flask:
    from kassa.central.app import create_app as build
    return build(config)

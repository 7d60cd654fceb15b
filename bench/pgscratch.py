"""Scratch PostgreSQL databases for a benchmark run, dropped afterwards whatever happens."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

PG = os.environ.get("KASSA_TEST_PG", "postgresql://127.0.0.1:5432/test")


def pg_url(name: str) -> str:
    """psycopg's URL of database ``name`` on the benchmark server."""
    return PG.rsplit("/", 1)[0] + "/" + name


def sqlalchemy_url(name: str) -> str:
    return "postgresql+psycopg://" + pg_url(name).split("://", 1)[1]


@contextmanager
def scratch_databases(n: int) -> Iterator[list[str]]:
    admin = psycopg.connect(PG, autocommit=True)
    names = [f"kassa_bench_{uuid.uuid4().hex[:8]}" for _ in range(n)]
    try:
        for name in names:
            admin.execute(f'CREATE DATABASE "{name}"')
        yield names
    finally:
        for name in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

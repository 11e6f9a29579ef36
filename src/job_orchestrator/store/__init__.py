"""Persistence. The only package that contains SQL."""

from __future__ import annotations

from typing import Literal

from job_orchestrator.store.base import Store
from job_orchestrator.store.urls import dialect_of


def open_store(
    url: str | None,
    *,
    pool_size: int = 20,
    pgbouncer: Literal["auto", "transaction", "off"] | None = None,
    listen_url: str | None = None,
) -> Store:
    """The store for ``url``: PostgreSQL (asyncpg) or SQLite (aiosqlite; the default).

    ``pgbouncer`` and ``listen_url`` are PostgreSQL's (see ``store/pg_engine.py``)."""
    if url and dialect_of(url) == "postgresql":
        from job_orchestrator.store.postgres import PostgresStore

        return PostgresStore(url, pool_size=pool_size, pgbouncer=pgbouncer, listen_url=listen_url)
    from job_orchestrator.store.sqlite import SqliteStore
    from job_orchestrator.store.urls import normalize_database_url

    return SqliteStore(normalize_database_url(url))


__all__ = ["Store", "open_store"]

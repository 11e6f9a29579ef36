"""Connecting to PostgreSQL: one engine factory for the server, the migrations and the CLI.

**URLs.** asyncpg parses the DSN itself (``urls.asyncpg_dsn``): several hosts, ``?host=&port=``
lists and ``target_session_attrs`` all work, and SQLAlchemy only wraps the connections asyncpg
opens (its own URL parser reads ``H1:P1,H2:P2`` as one port and fails).

**Transaction-mode poolers (PgBouncer).** Behind one, consecutive transactions of a client
connection run on whichever server backend is free, so nothing may live in a backend's session
between two statements:

- no named prepared statements: asyncpg's statement cache and SQLAlchemy's prepared-statement
  cache are both off. asyncpg then prepares each statement as the *unnamed* statement with
  Parse/Describe/Flush and binds it with Bind/Execute/Sync: there is no Sync in between, so
  the pooler keeps the same backend for both halves. This holds for the raw hot path
  (``raw_statements.py``) too, which uses the same asyncpg connection. Cost: one more round
  trip per statement (the Describe), measured in docs/deploy.md;
- no LISTEN through the pooler (``PostgresStore`` listens on a direct URL, or polls);
- nothing else is session state: ``set_config(..., true)`` in the claim is transaction-local,
  the reaper's leader lease is a row, not an advisory lock.

``ORCHESTRATOR_PGBOUNCER`` chooses: ``auto`` (the default) detects a pooler on the first
connection by comparing the pid in the startup reply with ``pg_backend_pid()``: equal on a
direct connection, different through PgBouncer (which hands out cancel keys of its own), one
extra connection per process; ``transaction`` assumes a pooler, ``off`` assumes none.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Literal

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine.interfaces import ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.util import await_only

from job_orchestrator.store.errors import READ_ONLY_SQLSTATE, sqlstate_of
from job_orchestrator.store.statements.connections import BACKEND_PID
from job_orchestrator.store.urls import asyncpg_dsn

PoolerMode = Literal["auto", "transaction", "off"]
POOLER_MODES: tuple[PoolerMode, ...] = ("auto", "transaction", "off")
POOLER_ENV = "ORCHESTRATOR_PGBOUNCER"
LISTEN_URL_ENV = "ORCHESTRATOR_LISTEN_DATABASE_URL"

# asyncpg's and SQLAlchemy's defaults, kept on a direct connection.
_DIRECT_STATEMENT_CACHE = 100


def pooler_mode_from_env() -> PoolerMode:
    """``ORCHESTRATOR_PGBOUNCER`` (the server's Settings validates it; migrate and the CLI read
    it here, so every process connecting through the pooler agrees)."""
    value = os.environ.get(POOLER_ENV, "auto").strip().lower() or "auto"
    if value not in POOLER_MODES:
        raise ValueError(f"{POOLER_ENV} must be one of {', '.join(POOLER_MODES)}, not {value!r}")
    return value


class PgConnector:
    """Opens asyncpg connections for one URL, and knows whether a pooler sits in between."""

    def __init__(
        self,
        url: str,
        *,
        mode: PoolerMode = "auto",
        server_settings: dict[str, str] | None = None,
    ) -> None:
        self.dsn = asyncpg_dsn(url)
        self.mode = mode
        self._server_settings = server_settings or {}
        self._pooled: bool | None = {"auto": None, "transaction": True, "off": False}[mode]
        self._detecting: asyncio.Lock | None = None

    @property
    def pooled(self) -> bool | None:
        """True behind a transaction pooler, False straight to PostgreSQL, None not known yet."""
        return self._pooled

    async def behind_pooler(self) -> bool:
        if self._pooled is None:
            self._detecting = self._detecting or asyncio.Lock()
            async with self._detecting:
                if self._pooled is None:
                    self._pooled = await self._detect()
        return self._pooled

    async def _detect(self) -> bool:
        connection = await self._open(statement_cache_size=0)
        try:
            backend_pid = await connection.fetchval(BACKEND_PID)
            return bool(backend_pid != connection.get_server_pid())
        finally:
            await connection.close(timeout=2)

    async def connect(self) -> asyncpg.Connection:
        pooled = await self.behind_pooler()
        return await self._open(statement_cache_size=0 if pooled else _DIRECT_STATEMENT_CACHE)

    async def _open(self, *, statement_cache_size: int) -> asyncpg.Connection:
        return await asyncpg.connect(
            self.dsn,
            timeout=5,
            command_timeout=60,
            statement_cache_size=statement_cache_size,
            server_settings=self._server_settings,
        )


def create_postgres_engine(connector: PgConnector, **engine_options: Any) -> AsyncEngine:
    """An engine whose connections come from ``connector``, with the statement caches the
    connection allows, and read-only errors (SQLSTATE 25006) treated as a lost connection."""
    engine: AsyncEngine

    def creator() -> Any:
        # Called by the pool in SQLAlchemy's greenlet: await_only runs the coroutines on the loop.
        pooled = await_only(connector.behind_pooler())
        dbapi = engine.sync_engine.dialect.loaded_dbapi
        return dbapi.connect(
            async_creator_fn=connector.connect,
            prepared_statement_cache_size=0 if pooled else _DIRECT_STATEMENT_CACHE,
        )

    engine = create_async_engine("postgresql+asyncpg://", creator=creator, **engine_options)
    event.listen(engine.sync_engine, "handle_error", _read_only_is_a_lost_connection)
    return engine


def _read_only_is_a_lost_connection(context: ExceptionContext) -> None:
    """A server that no longer takes writes (a primary demoted to standby) will not take them on
    this connection again: invalidate it and the pool, whose reconnects (with several hosts and
    ``target_session_attrs=read-write``) find the new primary."""
    if sqlstate_of(context.original_exception) == READ_ONLY_SQLSTATE:
        context.is_disconnect = True

"""Running the Alembic migrations programmatically (``orchestrator migrate``, server start)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from job_orchestrator.store.urls import dialect_of, normalize_database_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", normalize_database_url(database_url))
    return config


def migrate(database_url: str, revision: str = "head") -> None:
    """Upgrade the database to ``revision``. Safe to run again: a migrated database is a no-op."""
    command.upgrade(alembic_config(database_url), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync_conn: MigrationContext.configure(sync_conn).get_current_revision()
        )


def engine_for(database_url: str) -> AsyncEngine:
    """A short-lived engine: PostgreSQL's connects the way the server does (any libpq URL,
    PgBouncer-safe; see store/pg_engine.py)."""
    url = normalize_database_url(database_url)
    if dialect_of(url) == "postgresql":
        from job_orchestrator.store.pg_engine import (
            PgConnector,
            create_postgres_engine,
            pooler_mode_from_env,
        )

        connector = PgConnector(url, mode=pooler_mode_from_env())
        return create_postgres_engine(connector, poolclass=NullPool)
    return create_async_engine(url)


async def is_up_to_date(database_url: str) -> bool:
    engine = engine_for(database_url)
    try:
        return await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()

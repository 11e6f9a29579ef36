"""Running the Alembic migrations programmatically (``orchestrator migrate``, server start)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from job_orchestrator.store.urls import normalize_database_url

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


async def is_up_to_date(database_url: str) -> bool:
    engine = create_async_engine(normalize_database_url(database_url))
    try:
        return await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()

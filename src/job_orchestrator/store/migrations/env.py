"""Alembic environment: runs the migrations on an async engine for either dialect."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from job_orchestrator.store.migrate import engine_for

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=None,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_on_new_engine() -> None:
    engine = engine_for(config.get_main_option("sqlalchemy.url") or "")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported: point --database-url at a database")
if (connection := config.attributes.get("connection")) is not None:
    _run(connection)
else:
    asyncio.run(_run_on_new_engine())

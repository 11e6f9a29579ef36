"""Migrations: upgrade, downgrade and upgrade again on both backends, and the schema's guards."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from job_orchestrator.store.migrate import alembic_config, head_revision, is_up_to_date
from job_orchestrator.store.urls import normalize_database_url


async def test_round_trip_down_and_up(database_url: str) -> None:
    assert await is_up_to_date(database_url)
    config = alembic_config(database_url)
    import asyncio

    await asyncio.to_thread(command.downgrade, config, "base")
    assert not await is_up_to_date(database_url)
    await asyncio.to_thread(command.upgrade, config, "head")
    assert await is_up_to_date(database_url)
    assert head_revision() is not None  # one head: the revisions form a single line


async def test_the_schema_refuses_a_second_running_attempt(database_url: str) -> None:
    """Even a buggy claim could not record two running attempts of one job."""
    engine = create_async_engine(normalize_database_url(database_url))
    now = "CURRENT_TIMESTAMP" if "postgresql" in database_url else "0"
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO jobs (id, queue, type, state, priority, attempts, max_attempts, "
                    "run_at, created_at, updated_at, lease_seconds, retry_initial_seconds, "
                    "retry_multiplier, retry_max_seconds, retry_jitter, cancel_requested) VALUES "
                    f"(1, 'q', 't', 'leased', 0, 1, 5, {now}, {now}, {now}, 30, 1, 2, 300, "
                    "TRUE, FALSE)"
                )
            )
            insert = text(
                "INSERT INTO job_attempts (job_id, attempt, worker_id, leased_at) "
                f"VALUES (1, 1, 'w', {now})"
            )
            await conn.execute(insert)
        failed = False
        try:
            async with engine.begin() as conn:
                await conn.execute(insert)
        except Exception:
            failed = True
        assert failed, "a second running attempt was accepted"
    finally:
        await engine.dispose()

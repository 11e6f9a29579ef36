"""PostgreSQL's hot path runs on the asyncpg connection under SQLAlchemy's pool (see
``store/raw_statements.py``): it must keep the SQL's meaning and recover from lost connections
exactly like the SQLAlchemy path does (503 once, then service without intervention)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

from job_orchestrator.domain.errors import StoreUnavailable
from job_orchestrator.domain.models import Completion, LeaseRequest, NewJob
from job_orchestrator.store import Store, open_store
from job_orchestrator.store.postgres import PostgresStore
from job_orchestrator.store.raw_statements import RawStatements
from tests.support.databases import PostgresTemplate


@pytest.fixture
def pg_url(postgres_template: PostgresTemplate) -> Iterator[str]:
    yield from postgres_template.fresh()


@pytest.fixture
async def pg_store(pg_url: str) -> AsyncIterator[Store]:
    store = open_store(pg_url)
    try:
        yield store
    finally:
        await store.close()


def test_expanded_lists_become_positional_parameters_in_order() -> None:
    raw = RawStatements(asyncpg_dialect())  # type: ignore[no-untyped-call]
    statement = text("SELECT 1 WHERE a IN :xs AND b = :y AND c IN :zs").bindparams(
        bindparam("xs", expanding=True), bindparam("zs", expanding=True)
    )
    sql, accessors = raw._form(statement, {"xs": [1, 2], "y": 3, "zs": [4]})
    assert sql == "SELECT 1 WHERE a IN ($2, $3) AND b = $1 AND c IN ($4)"
    assert accessors == [("y", None), ("xs", 0), ("xs", 1), ("zs", 0)]
    # Another list length is another prepared form, the same length reuses the first.
    assert raw._form(statement, {"xs": [1], "y": 3, "zs": [4]})[0].count("$") == 3
    assert raw._form(statement, {"xs": [5, 6], "y": 7, "zs": [8]})[0] == sql


async def _terminate_store_connections(url: str) -> int:
    admin = await asyncpg.connect(url)
    try:
        return int(
            await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND application_name = 'job-orchestrator'"
            )
        )
    finally:
        await admin.close()


async def test_a_connection_lost_under_the_raw_path_is_503_once_then_recovers(
    pg_store: Store, pg_url: str
) -> None:
    await pg_store.enqueue_many([NewJob(type="t", payload=i) for i in range(4)])
    first = await pg_store.lease(LeaseRequest(worker_id="w", max_jobs=1))
    assert len(first) == 1
    assert await _terminate_store_connections(pg_url) >= 1

    with pytest.raises(StoreUnavailable):
        await pg_store.lease(LeaseRequest(worker_id="w", max_jobs=1))
    # The broken connection left the pool: the next calls get fresh ones and work.
    leases = await pg_store.lease(LeaseRequest(worker_id="w", max_jobs=3))
    assert len(leases) == 3
    done = await pg_store.complete_many(
        [Completion(lease.job_id, lease.lease_token, "ok") for lease in [*first, *leases]]
    )
    assert [type(item).__name__ for item in done] == ["Job"] * 4


async def test_calls_cancelled_at_any_point_leave_the_pool_usable(pg_store: Store) -> None:
    await pg_store.enqueue_many([NewJob(type="t", payload=i) for i in range(200)])
    for steps in range(40):  # cancel after 0, 1, 2, ... turns of the event loop
        call = asyncio.ensure_future(pg_store.lease(LeaseRequest(worker_id="w", max_jobs=1)))
        for _ in range(steps):
            await asyncio.sleep(0)
        call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await call
    # Whatever state each cancellation left its connection in, the next calls work.
    for _ in range(5):
        leases = await pg_store.lease(LeaseRequest(worker_id="w", max_jobs=2))
        assert len(leases) == 2
        done = await pg_store.complete_many(
            [Completion(lease.job_id, lease.lease_token, None) for lease in leases]
        )
        assert all(type(item).__name__ == "Job" for item in done)


async def test_a_claim_commits_lazily_but_leaves_the_session_synchronous(pg_url: str) -> None:
    """The claim turns synchronous_commit off for its own transaction only: the completion
    that follows on the same pooled connection must commit synchronously, or an acknowledged
    completion could be lost in a database crash."""
    store = PostgresStore(pg_url, pool_size=1, max_overflow=0)  # one connection: the same one
    try:
        await store.enqueue_many([NewJob(type="t")])
        async with store._statement() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            backend = raw.get_server_pid()
            lazy = await raw.fetchval(
                "WITH lazy_commit AS MATERIALIZED "
                "(SELECT set_config('synchronous_commit', 'off', true)) "
                "SELECT current_setting('synchronous_commit') FROM lazy_commit"
            )
        assert lazy == "off"  # the mechanism: in effect inside the statement's transaction
        [lease] = await store.lease(LeaseRequest(worker_id="w"))
        async with store._statement() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None and raw.get_server_pid() == backend
            assert await raw.fetchval("SHOW synchronous_commit") == "on"
        assert "set_config('synchronous_commit', 'off', true)" in str(
            store._q.leasing.claim(types=False)
        )
        await store.complete_many([Completion(lease.job_id, lease.lease_token, None)])
    finally:
        await store.close()

"""PostgreSQL behind PgBouncer in transaction mode (a private one, tests/support/pgbouncer.py).

The conformance suite and the API tests run through it too (the ``pgbouncer`` backend); these
tests cover what is particular to a pooler: detecting it, many clients whose statements share
backends, LISTEN on a direct URL, and the polling mode without one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from job_orchestrator.domain.models import Completion, LeaseRequest, NewJob
from job_orchestrator.services.jobs import JobService
from job_orchestrator.settings import Settings
from job_orchestrator.store.pg_engine import PgConnector
from job_orchestrator.store.postgres import PostgresStore
from tests.support.databases import PostgresTemplate
from tests.support.pgbouncer import PgBouncer

pytestmark = pytest.mark.postgres


@pytest.fixture
def direct_url(postgres_template: PostgresTemplate) -> Iterator[str]:
    yield from postgres_template.fresh()


@pytest.fixture
def bouncer_url(pgbouncer: PgBouncer, direct_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("ORCHESTRATOR_LISTEN_DATABASE_URL", raising=False)
    monkeypatch.delenv("ORCHESTRATOR_PGBOUNCER", raising=False)
    return pgbouncer.url_for(direct_url)


async def test_auto_detects_the_pooler_and_a_direct_connection(
    bouncer_url: str, direct_url: str
) -> None:
    assert await PgConnector(bouncer_url).behind_pooler() is True
    assert await PgConnector(direct_url).behind_pooler() is False
    assert await PgConnector(direct_url, mode="transaction").behind_pooler() is True


async def test_many_clients_sharing_few_backends_never_meet_each_others_statements(
    bouncer_url: str,
) -> None:
    """Three stores (as three server processes) of 10 connections each share PgBouncer's 8
    backends: named or cached prepared statements would collide ("already exists", "does not
    exist") or bind to another client's statement of the same name."""
    stores = [PostgresStore(bouncer_url, pool_size=10, max_overflow=0) for _ in range(3)]
    try:

        async def produce_and_work(store: PostgresStore, n: int) -> int:
            done = 0
            for round_ in range(10):
                await store.enqueue_many([NewJob(type=f"t{n}", queue="q", payload={"r": round_})])
                leases = await store.lease(LeaseRequest(worker_id=f"w{n}", queues=("q",)))
                for lease in leases:
                    await store.complete_many([Completion(lease.job_id, lease.lease_token, {})])
                    done += 1
            return done

        done = await asyncio.gather(
            *(produce_and_work(store, n) for n in range(3) for store in stores)
        )
        counts = await stores[0].counts_by_queue_state()
        assert sum(done) == 90
        assert {(queue, state): n for queue, state, n in counts} == {("q", "succeeded"): 90}
    finally:
        for store in stores:
            await store.close()


async def test_with_a_direct_listen_url_other_processes_wake_by_notify(
    bouncer_url: str, direct_url: str
) -> None:
    listening = PostgresStore(bouncer_url, listen_url=direct_url)
    other = PostgresStore(bouncer_url)
    woken: list[str] = []
    try:
        await listening.start_listening(woken.append)
        await _until(lambda: "*" in woken)  # the listener says so once it listens
        await other.enqueue_many([NewJob(type="t", queue="elsewhere")])
        await _until(lambda: "elsewhere" in woken)
    finally:
        await other.close()
        await listening.close()


async def test_without_a_direct_url_long_polls_see_other_processes_jobs_by_polling(
    bouncer_url: str,
) -> None:
    """No LISTEN through the pooler: a long poll finds another process's job within the
    polling mode's 0.5 s, although the hub's own fallback (the server's default poll interval,
    5 s) relies on notifications that never come here."""
    polling = PostgresStore(bouncer_url)
    other = PostgresStore(bouncer_url)
    service = JobService(polling, poll_interval=Settings().poll_interval)
    assert service.poll_interval >= 5
    try:
        await polling.start_listening(service.hub.queue_ready)
        waiting = asyncio.create_task(
            service.lease(LeaseRequest(worker_id="w", queues=("q",)), wait_seconds=20)
        )
        await asyncio.sleep(0.3)  # the long poll is waiting (not a lease expiry: nothing moves)
        assert not waiting.done()
        await other.enqueue_many([NewJob(type="t", queue="q")])
        loop = asyncio.get_running_loop()
        started = loop.time()
        leases = await asyncio.wait_for(waiting, 10)
        assert len(leases) == 1
        assert loop.time() - started < 2.0  # the polling mode's look, not the 5 s fallback
    finally:
        await service.close()
        await other.close()
        await polling.close()


async def _until(condition: object, seconds: float = 10.0) -> None:
    assert callable(condition)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)

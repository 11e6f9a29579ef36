"""Wake-ups on PostgreSQL: a server process wakes its own long polls the moment its write
commits, and hears every other process's writes through LISTEN/NOTIFY (and skips the echo of
its own NOTIFYs, which it has already acted on)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from job_orchestrator.domain.models import FailureInfo, LeaseRequest, NewJob
from job_orchestrator.store import Store, open_store
from job_orchestrator.store.postgres import PostgresStore
from tests.support.databases import PostgresTemplate

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url(postgres_template: PostgresTemplate) -> Iterator[str]:
    yield from postgres_template.fresh()


@pytest.fixture
async def listening(pg_url: str) -> AsyncIterator[tuple[Store, list[str]]]:
    """A store whose wake-ups are recorded, once its LISTEN connection is up."""
    store = open_store(pg_url)
    woken: list[str] = []
    await store.start_listening(woken.append)
    try:
        await until(lambda: "*" in woken)  # the listener says so once it listens
        woken.clear()
        yield store, woken
    finally:
        await store.close()


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


async def test_an_enqueue_wakes_this_process_before_it_returns(
    listening: tuple[Store, list[str]],
) -> None:
    store, woken = listening
    await store.enqueue_many([NewJob(type="t", queue="mine")])
    assert woken == ["mine"]


async def test_other_processes_wake_through_notify_and_the_own_echo_is_skipped(
    listening: tuple[Store, list[str]], pg_url: str
) -> None:
    store, woken = listening
    await store.enqueue_many([NewJob(type="t", queue="mine")])
    other = open_store(pg_url)  # another server process, as far as PostgreSQL can tell
    try:
        await other.enqueue_many([NewJob(type="t", queue="theirs")])
    finally:
        await other.close()
    # Notifications arrive in commit order: by the time "theirs" is heard, the echo of "mine"
    # has been delivered too, and must have been skipped.
    await until(lambda: "theirs" in woken)
    assert woken == ["mine", "theirs"]


async def test_a_write_in_a_transaction_wakes_once_it_committed(
    listening: tuple[Store, list[str]],
) -> None:
    store, woken = listening
    job = (await store.enqueue_many([NewJob(type="t", queue="retries")]))[0].job
    [lease] = await store.lease(LeaseRequest(worker_id="w", queues=("retries",)))
    woken.clear()
    failure = FailureInfo(message="again", retry_after_seconds=0)
    await store.fail(job.id, lease.lease_token, failure)  # back to pending, ready at once
    assert woken == ["retries"]


async def test_a_task_started_inside_a_store_call_wakes_for_its_own_writes(
    listening: tuple[Store, list[str]],
) -> None:
    """A task inherits the context it was started in; it must not take its parent's write
    block for its own (its wake-ups would wait for the parent, or never come)."""
    store, woken = listening
    assert isinstance(store, PostgresStore)
    async with store._statement():
        child = asyncio.create_task(store.enqueue_many([NewJob(type="t", queue="child")]))
        await child
        assert woken == ["child"]

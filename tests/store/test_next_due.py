"""The long polls' fallback timer: the seconds until a queue's earliest future run_at (both
databases). Time is moved through ``now``, never waited for."""

from __future__ import annotations

from datetime import timedelta

import pytest

from job_orchestrator.domain.models import NewJob
from job_orchestrator.store import Store


async def test_no_pending_job_means_nothing_to_wait_for(store: Store) -> None:
    assert await store.seconds_until_next_due(["empty"]) is None
    await store.enqueue(NewJob(type="t", queue="due"))  # due now: not in the future
    assert await store.seconds_until_next_due(["due"]) is None


async def test_the_earliest_future_run_at_across_priorities_and_queues(store: Store) -> None:
    now = await store.db_now()
    for queue, priority, delay in [("a", 0, 30), ("a", 5, 10), ("a", 2, 0), ("b", 0, 5)]:
        job = NewJob(
            type="t", queue=queue, priority=priority, run_at=now + timedelta(seconds=delay)
        )
        await store.enqueue(job, now=now)
    assert await store.seconds_until_next_due(["a"], now=now) == pytest.approx(10)
    assert await store.seconds_until_next_due(["a", "b"], now=now) == pytest.approx(5)
    assert await store.seconds_until_next_due(["b", "c"], now=now) == pytest.approx(5)
    assert await store.seconds_until_next_due(["c"], now=now) is None
    # Time moves on: what came due is no longer waited for, the next one is.
    later = now + timedelta(seconds=12)
    assert await store.seconds_until_next_due(["a"], now=later) == pytest.approx(18)
    assert await store.seconds_until_next_due(["b"], now=later) is None


async def test_only_pending_jobs_count(store: Store) -> None:
    now = await store.db_now()
    soon = NewJob(type="t", queue="q", run_at=now + timedelta(seconds=3))
    later = NewJob(type="t", queue="q", run_at=now + timedelta(seconds=8))
    first = (await store.enqueue(soon, now=now)).job
    await store.enqueue(later, now=now)
    await store.cancel(first.id)
    assert await store.seconds_until_next_due(["q"], now=now) == pytest.approx(8)


async def test_a_long_poll_wakes_when_a_short_snooze_comes_due(store: Store) -> None:
    """A snooze with a delay announces its queue, as a delayed retry does, so the waiting
    group's timer is set from its run_at: the job is leased again in about the delay, not at
    the hub's 5 s fallback."""
    import asyncio

    from job_orchestrator.domain.models import LeaseRequest, Snooze
    from job_orchestrator.services.jobs import JobService

    service = JobService(store, poll_interval=5.0)
    request = LeaseRequest(worker_id="w", queues=("snoozy",))
    await store.start_listening(service.hub.queue_ready)  # as the app wires it
    try:
        await store.enqueue_many([NewJob(type="t", queue="snoozy")])
        [lease] = await service.lease(request)
        waiting = asyncio.create_task(service.lease(request, wait_seconds=10))
        await asyncio.sleep(0.2)  # the long poll has looked and found nothing
        assert not waiting.done()
        await store.snooze(
            Snooze(job_id=lease.job_id, lease_token=lease.lease_token, delay_seconds=0.5)
        )
        loop = asyncio.get_running_loop()
        started = loop.time()
        leases = await asyncio.wait_for(waiting, 10)
        assert [again.job_id for again in leases] == [lease.job_id]
        assert loop.time() - started < 3.0  # the snooze's 0.5 s, not the 5 s fallback
    finally:
        await service.close()

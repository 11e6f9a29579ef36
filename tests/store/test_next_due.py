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

"""The reaper, with a moved clock, and its leader election."""

from __future__ import annotations

from datetime import timedelta

import pytest

from job_orchestrator.domain.errors import LeaseLost
from job_orchestrator.domain.models import Completion, LeaseRequest, NewJob
from job_orchestrator.domain.retry import RetryPolicy
from job_orchestrator.domain.states import AttemptOutcome, JobState
from job_orchestrator.services.reaper import LEADER_NAME, Reaper
from job_orchestrator.store import Store

NO_JITTER = RetryPolicy(initial_seconds=5, multiplier=2, max_seconds=60, jitter=False)


async def test_expired_lease_is_retried_with_backoff(store: Store) -> None:
    now = await store.db_now()
    job = (await store.enqueue(NewJob(type="t", lease_seconds=10, retry=NO_JITTER), now=now)).job
    lease = (await store.lease(LeaseRequest(worker_id="dead"), now=now))[0]
    reaper = Reaper(store, holder_id="r1")
    assert await reaper.run_once(now=now + timedelta(seconds=9)) is not None
    assert (await store.get_job(job.id)).state is JobState.LEASED  # not yet expired
    result = await reaper.run_once(now=now + timedelta(seconds=10))
    assert result is not None
    assert (result.lease_expired, result.timed_out, result.retried) == (1, 0, 1)
    reaped = await store.get_job(job.id)
    assert reaped.state is JobState.PENDING
    assert reaped.run_at == now + timedelta(seconds=15)
    assert reaped.last_error["type"] == "lease_expired"
    # The dead worker's token is now worthless.
    with pytest.raises(LeaseLost):
        await store.complete(Completion(job.id, lease.lease_token, 1), now=now)
    attempts = await store.list_attempts(job.id)
    assert [a.outcome for a in attempts] == [AttemptOutcome.LEASE_EXPIRED]


async def test_execution_timeout_wins_even_with_heartbeats(store: Store) -> None:
    now = await store.db_now()
    job = (
        await store.enqueue(
            NewJob(type="t", lease_seconds=10, timeout_seconds=25, max_attempts=1), now=now
        )
    ).job
    lease = (await store.lease(LeaseRequest(worker_id="w"), now=now))[0]
    for t in (8, 16, 24):
        await store.heartbeat(job.id, lease.lease_token, now=now + timedelta(seconds=t))
    with pytest.raises(LeaseLost):  # past the deadline the lease is gone, heartbeat or not
        await store.heartbeat(job.id, lease.lease_token, now=now + timedelta(seconds=26))
    result = await Reaper(store, holder_id="r").run_once(now=now + timedelta(seconds=26))
    assert result is not None and (result.timed_out, result.dead_lettered) == (1, 1)
    dead = await store.get_job(job.id)
    assert dead.state is JobState.DLQ
    assert [a.outcome for a in await store.list_attempts(job.id)] == [AttemptOutcome.TIMED_OUT]


async def test_reaper_pages_through_many_expired_jobs(store: Store) -> None:
    now = await store.db_now()
    await store.enqueue_many([NewJob(type="t", lease_seconds=1) for _ in range(25)], now=now)
    await store.lease(LeaseRequest(worker_id="w", max_jobs=25), now=now)
    result = await Reaper(store, holder_id="r", batch_size=4).run_once(
        now=now + timedelta(seconds=2)
    )
    assert result is not None and result.lease_expired == 25
    counts = await store.counts_by_queue_state()
    assert counts == [("default", "pending", 25)]


async def test_two_reapers_never_both_act(store: Store) -> None:
    now = await store.db_now()
    await store.enqueue_many([NewJob(type="t", lease_seconds=1) for _ in range(10)], now=now)
    await store.lease(LeaseRequest(worker_id="w", max_jobs=10), now=now)
    first = Reaper(store, holder_id="one", leader_ttl=10)
    second = Reaper(store, holder_id="two", leader_ttl=10)
    t = now + timedelta(seconds=5)
    # Rounds interleaved many times: only the leader ever acts while its lease is fresh.
    acted = []
    for i in range(6):
        moment = t + timedelta(seconds=i)
        acted.append(("one", await first.run_once(now=moment)))
        acted.append(("two", await second.run_once(now=moment)))
    assert all(result is None for who, result in acted if who == "two")
    assert sum(r.lease_expired for who, r in acted if who == "one" and r) == 10


async def test_leadership_passes_when_the_leader_stops_renewing(store: Store) -> None:
    now = await store.db_now()
    assert await store.try_acquire_leadership(LEADER_NAME, "a", ttl_seconds=10, now=now)
    assert not await store.try_acquire_leadership(
        LEADER_NAME, "b", ttl_seconds=10, now=now + timedelta(seconds=9)
    )
    assert await store.try_acquire_leadership(
        LEADER_NAME, "b", ttl_seconds=10, now=now + timedelta(seconds=10)
    )
    assert not await store.try_acquire_leadership(
        LEADER_NAME, "a", ttl_seconds=10, now=now + timedelta(seconds=11)
    )
    await store.release_leadership(LEADER_NAME, "b")
    assert await store.try_acquire_leadership(
        LEADER_NAME, "a", ttl_seconds=10, now=now + timedelta(seconds=11)
    )


async def test_a_completion_racing_the_reaper_is_decided_once(store: Store) -> None:
    now = await store.db_now()
    job = (await store.enqueue(NewJob(type="t", lease_seconds=5), now=now)).job
    lease = (await store.lease(LeaseRequest(worker_id="w"), now=now))[0]
    await store.complete(
        Completion(job.id, lease.lease_token, "done"), now=now + timedelta(seconds=4)
    )
    result = await Reaper(store, holder_id="r").run_once(now=now + timedelta(seconds=60))
    assert result is not None and result.total == 0
    assert (await store.get_job(job.id)).state is JobState.SUCCEEDED

"""The store conformance suite: every behaviour, on SQLite and on PostgreSQL.

Time is moved, never waited for: store calls take ``now``, anchored on the database clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from job_orchestrator.domain.errors import (
    AlreadyCompleted,
    IdempotencyConflict,
    InvalidTransition,
    JobNotFound,
    LeaseLost,
)
from job_orchestrator.domain.models import (
    Completion,
    FailureInfo,
    Heartbeat,
    HeartbeatResult,
    JobFilter,
    Lease,
    LeaseRequest,
    NewJob,
)
from job_orchestrator.domain.retry import RetryPolicy
from job_orchestrator.domain.states import AttemptOutcome, JobState
from job_orchestrator.store import Store

NO_JITTER = RetryPolicy(initial_seconds=10, multiplier=2, max_seconds=100, jitter=False)


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


async def lease_one(store: Store, now: datetime | None = None, **kwargs: object) -> Lease:
    leases = await store.lease(LeaseRequest(worker_id="w1", **kwargs), now=now)  # type: ignore[arg-type]
    assert len(leases) == 1, leases
    return leases[0]


async def test_enqueue_defaults(store: Store) -> None:
    before = await store.db_now()
    job = (await store.enqueue(NewJob(type="email", payload={"to": "a@b"}))).job
    assert job.state is JobState.PENDING
    assert (job.queue, job.priority, job.attempts, job.max_attempts) == ("default", 0, 0, 5)
    assert job.payload == {"to": "a@b"}
    assert job.lease_seconds == 30.0
    assert job.retry == RetryPolicy()
    assert before - seconds(1) <= job.created_at <= before + seconds(5)
    assert job.run_at == job.created_at
    assert (await store.get_job(job.id)) == job


async def test_the_enqueued_job_returned_is_the_job_stored(store: Store) -> None:
    """PostgreSQL builds the returned job from the request plus what the INSERT decided;
    it must be exactly what a read finds, for every option and payload kind."""
    now = await store.db_now()
    everything = NewJob(
        type="send",
        payload={"nested": {"deep": [True, None, 1.5, "ünï"]}},
        queue="mail",
        priority=3,
        run_at=now + seconds(90),
        max_attempts=7,
        retry=RetryPolicy(initial_seconds=0.5, multiplier=3.0, max_seconds=20.0, jitter=False),
        lease_seconds=12.5,
        timeout_seconds=60.0,
        owner="key-1",
    )
    batch = [
        everything,
        NewJob(type="delayed", delay_seconds=30, payload=[1, "a"]),
        NewJob(type="keyed", idempotency_key="k-1", payload="text"),
        NewJob(type="plain"),
    ]
    results = await store.enqueue_many(batch, now=now)
    stored = await store.get_jobs([r.job.id for r in results])
    for result in results:
        assert result.job == stored[result.job.id]
    single = (await store.enqueue(NewJob(type="one", payload=0))).job
    assert single == await store.get_job(single.id)


async def test_payloads_of_every_json_kind_round_trip(store: Store) -> None:
    for payload in [None, 0, 1.5, "text", [1, "a"], {"nested": {"deep": [True, None]}}, "ünï"]:
        job = (await store.enqueue(NewJob(type="t", payload=payload))).job
        assert (await store.get_job(job.id)).payload == payload


async def test_delay_and_run_at_schedule_the_job(store: Store) -> None:
    now = await store.db_now()
    delayed = (await store.enqueue(NewJob(type="t", delay_seconds=60), now=now)).job
    assert delayed.run_at == now + seconds(60)
    at = now + seconds(3600)
    scheduled = (await store.enqueue(NewJob(type="t", run_at=at), now=now)).job
    assert scheduled.run_at == at
    assert await store.lease(LeaseRequest(worker_id="w", max_jobs=10), now=now) == []
    leased = await store.lease(LeaseRequest(worker_id="w", max_jobs=10), now=now + seconds(61))
    assert [lease.job_id for lease in leased] == [delayed.id]


async def test_batch_enqueue_keeps_request_order(store: Store) -> None:
    results = await store.enqueue_many([NewJob(type=f"t{i}") for i in range(50)])
    assert [r.job.type for r in results] == [f"t{i}" for i in range(50)]
    assert all(r.created for r in results)
    ids = [r.job.id for r in results]
    assert ids == sorted(ids)


async def test_idempotent_enqueue(store: Store) -> None:
    first = await store.enqueue(NewJob(type="t", payload=1, idempotency_key="k"))
    again = await store.enqueue(NewJob(type="t", payload=1, idempotency_key="k"))
    assert first.created and not again.created
    assert again.job.id == first.job.id
    with pytest.raises(IdempotencyConflict):
        await store.enqueue(NewJob(type="t", payload=2, idempotency_key="k"))


async def test_idempotency_inside_one_batch_and_all_or_nothing(store: Store) -> None:
    results = await store.enqueue_many(
        [
            NewJob(type="t", idempotency_key="a"),
            NewJob(type="t", idempotency_key="a"),
            NewJob(type="u"),
        ]
    )
    assert results[0].job.id == results[1].job.id
    assert [r.created for r in results] == [True, False, True]
    total_before = len(await store.list_jobs(JobFilter(limit=500)))
    with pytest.raises(IdempotencyConflict):
        await store.enqueue_many(
            [NewJob(type="new"), NewJob(type="different", idempotency_key="a")]
        )
    assert len(await store.list_jobs(JobFilter(limit=500))) == total_before


async def test_lease_order_priority_then_run_at_then_creation(store: Store) -> None:
    now = await store.db_now()
    late = (await store.enqueue(NewJob(type="late", priority=0), now=now)).job
    early = (await store.enqueue(NewJob(type="early", run_at=now - seconds(10)), now=now)).job
    low = (await store.enqueue(NewJob(type="low", priority=5, run_at=now - seconds(99)))).job
    same_a = (await store.enqueue(NewJob(type="a"), now=now)).job
    order = []
    for _ in range(4):
        order.append((await lease_one(store, now=now + seconds(1))).job_id)
    assert order == [early.id, late.id, same_a.id, low.id]


async def test_lease_filters_queues_and_types(store: Store) -> None:
    await store.enqueue_many(
        [NewJob(type="a", queue="q1"), NewJob(type="b", queue="q1"), NewJob(type="a", queue="q2")]
    )
    got = await store.lease(LeaseRequest(worker_id="w", queues=("q1",), types=("b",), max_jobs=10))
    assert [(g.queue, g.type) for g in got] == [("q1", "b")]
    got = await store.lease(LeaseRequest(worker_id="w", queues=("q1", "q2"), max_jobs=10))
    assert sorted((g.queue, g.type) for g in got) == [("q1", "a"), ("q2", "a")]


async def test_lease_hands_out_fields_and_records_an_attempt(store: Store) -> None:
    now = await store.db_now()
    job = (
        await store.enqueue(
            NewJob(type="t", payload={"x": 1}, lease_seconds=5, timeout_seconds=20), now=now
        )
    ).job
    lease = await lease_one(store, now=now)
    assert lease.job_id == job.id and lease.attempt == 1
    assert lease.lease_expires_at == now + seconds(5)
    assert lease.deadline == now + seconds(20)
    assert lease.payload == {"x": 1}
    assert len(lease.lease_token) >= 32  # 256 random bits, url-safe
    stored = await store.get_job(job.id)
    assert stored.state is JobState.LEASED and stored.attempts == 1 and stored.worker_id == "w1"
    attempts = await store.list_attempts(job.id)
    assert [(a.attempt, a.worker_id, a.outcome) for a in attempts] == [(1, "w1", None)]


async def test_heartbeat_extends_the_lease_and_keeps_details(store: Store) -> None:
    now = await store.db_now()
    job = (await store.enqueue(NewJob(type="t", lease_seconds=10), now=now)).job
    lease = await lease_one(store, now=now)
    beat = await store.heartbeat(
        job.id, lease.lease_token, details={"step": 3}, set_details=True, now=now + seconds(8)
    )
    assert beat.lease_expires_at == now + seconds(18)
    assert beat.cancel_requested is False
    # A heartbeat without details keeps the last ones.
    await store.heartbeat(job.id, lease.lease_token, now=now + seconds(9))
    assert (await store.get_job(job.id)).heartbeat_details == {"step": 3}
    # ...and the next attempt receives them.
    await store.fail(job.id, lease.lease_token, FailureInfo("x", retry_after_seconds=0), now=now)
    again = await lease_one(store, now=now + seconds(10))
    assert again.heartbeat_details == {"step": 3}


async def test_a_batch_of_heartbeats_answers_each_item_like_a_single_one(store: Store) -> None:
    now = await store.db_now()
    jobs = [
        (await store.enqueue(NewJob(type="t", lease_seconds=10), now=now)).job for _ in range(3)
    ]
    leases = await store.lease(LeaseRequest(worker_id="w", max_jobs=3), now=now)
    by_job = {lease.job_id: lease for lease in leases}
    first, second, third = (by_job[job.id] for job in jobs)
    await store.cancel(third.job_id, now=now)
    at = now + seconds(4)
    outcomes = await store.heartbeat_many(
        [
            Heartbeat(first.job_id, first.lease_token, {"step": 1}, set_details=True),
            Heartbeat(second.job_id, second.lease_token),  # no details: keep the stored ones
            Heartbeat(third.job_id, third.lease_token),  # cancelled: told so, lease untouched
            Heartbeat(first.job_id, "forged"),
            Heartbeat(jobs[-1].id + 1000, first.lease_token),
            Heartbeat(first.job_id, first.lease_token, {"step": 1}, set_details=True),  # again
        ],
        now=at,
    )
    assert isinstance(outcomes[0], HeartbeatResult) and outcomes[0] == outcomes[5]
    assert outcomes[0].lease_expires_at == at + seconds(10) and not outcomes[0].cancel_requested
    assert isinstance(outcomes[1], HeartbeatResult)
    assert outcomes[1].lease_expires_at == at + seconds(10)
    assert isinstance(outcomes[2], HeartbeatResult) and outcomes[2].cancel_requested
    assert isinstance(outcomes[3], LeaseLost) and isinstance(outcomes[4], JobNotFound)
    assert (await store.get_job(first.job_id)).heartbeat_details == {"step": 1}
    assert (await store.get_job(second.job_id)).heartbeat_details is None
    assert await store.heartbeat_many([], now=at) == []


async def test_stale_and_forged_tokens_change_nothing(store: Store) -> None:
    now = await store.db_now()
    job = (await store.enqueue(NewJob(type="t"), now=now)).job
    lease = await lease_one(store, now=now)
    before = await store.get_job(job.id)
    for call in (
        store.heartbeat(job.id, "forged", now=now),
        store.complete(Completion(job.id, "forged", {"r": 1}), now=now),
        store.fail(job.id, "forged", FailureInfo("x"), now=now),
    ):
        with pytest.raises(LeaseLost):
            await call
    assert await store.get_job(job.id) == before
    assert lease.lease_token  # the real holder still holds it
    with pytest.raises(JobNotFound):
        await store.heartbeat(job.id + 1000, lease.lease_token, now=now)


async def test_an_expired_lease_is_honoured_until_the_reaper_ends_it(store: Store) -> None:
    from job_orchestrator.services.reaper import Reaper

    now = await store.db_now()
    job = (await store.enqueue(NewJob(type="t", lease_seconds=5), now=now)).job
    lease = await lease_one(store, now=now)
    later = now + seconds(6)
    # Nobody else can hold the job yet: a late heartbeat revives the lease.
    beat = await store.heartbeat(job.id, lease.lease_token, now=later)
    assert beat.lease_expires_at == later + seconds(5)
    # Once the reaper has ended the attempt, the token is dead.
    result = await Reaper(store, holder_id="r").run_once(now=later + seconds(6))
    assert result is not None and result.lease_expired == 1
    with pytest.raises(LeaseLost):
        await store.complete(Completion(job.id, lease.lease_token, 1), now=later + seconds(7))
    assert (await store.get_job(job.id)).state is JobState.PENDING


async def test_the_execution_deadline_is_final(store: Store) -> None:
    now = await store.db_now()
    job = (await store.enqueue(NewJob(type="t", timeout_seconds=10), now=now)).job
    lease = await lease_one(store, now=now)
    with pytest.raises(LeaseLost):
        await store.complete(Completion(job.id, lease.lease_token, 1), now=now + seconds(11))


async def test_complete_is_exactly_once(store: Store) -> None:
    job = (await store.enqueue(NewJob(type="t"))).job
    lease = await lease_one(store)
    done = await store.complete(Completion(job.id, lease.lease_token, {"n": 1}))
    assert done.state is JobState.SUCCEEDED and done.result == {"n": 1}
    assert done.finished_at is not None and done.lease_expires_at is None
    # The same completion again (same default key: the token) returns the stored result.
    replay = await store.complete(Completion(job.id, lease.lease_token, {"n": 999}))
    assert replay.result == {"n": 1} and replay.state is JobState.SUCCEEDED
    # Another key after success: already_completed with the stored result.
    with pytest.raises(AlreadyCompleted) as caught:
        await store.complete(Completion(job.id, lease.lease_token, {"n": 2}, "other"))
    assert caught.value.details == {"result": {"n": 1}}
    attempts = await store.list_attempts(job.id)
    assert [a.outcome for a in attempts] == [AttemptOutcome.SUCCEEDED]


async def test_explicit_completion_keys(store: Store) -> None:
    job = (await store.enqueue(NewJob(type="t"))).job
    lease = await lease_one(store)
    await store.complete(Completion(job.id, lease.lease_token, "r", idempotency_key="c1"))
    # A replay may come with any token (e.g. a stale one) as long as the key matches.
    replay = await store.complete(Completion(job.id, "whatever", "other", idempotency_key="c1"))
    assert replay.result == "r"


async def test_complete_many_reports_each_item(store: Store) -> None:
    jobs = [r.job for r in await store.enqueue_many([NewJob(type="t") for _ in range(3)])]
    leases = await store.lease(LeaseRequest(worker_id="w", max_jobs=3))
    by_job = {lease.job_id: lease for lease in leases}
    outcomes = await store.complete_many(
        [
            Completion(jobs[0].id, by_job[jobs[0].id].lease_token, 0),
            Completion(jobs[1].id, "stale", 1),
            Completion(jobs[2].id, by_job[jobs[2].id].lease_token, 2),
            Completion(jobs[0].id, by_job[jobs[0].id].lease_token, 0),  # duplicate in batch
            Completion(10_000_000, "x", 3),
        ]
    )
    assert [type(o).__name__ for o in outcomes] == [
        "Job",
        "LeaseLost",
        "Job",
        "Job",
        "JobNotFound",
    ]
    assert (await store.get_job(jobs[1].id)).state is JobState.LEASED


async def test_fail_retries_with_backoff_then_dead_letters(store: Store) -> None:
    now = await store.db_now()
    job = (await store.enqueue(NewJob(type="t", max_attempts=3, retry=NO_JITTER), now=now)).job
    lease = await lease_one(store, now=now)
    failed = await store.fail(job.id, lease.lease_token, FailureInfo("boom", "ValueError"), now=now)
    assert failed.state is JobState.PENDING
    assert failed.run_at == now + seconds(10)
    assert failed.last_error == {
        "message": "boom",
        "type": "ValueError",
        "retryable": True,
        "attempt": 1,
    }
    assert await store.lease(LeaseRequest(worker_id="w"), now=now + seconds(9)) == []
    lease = await lease_one(store, now=now + seconds(10))
    failed = await store.fail(job.id, lease.lease_token, FailureInfo("boom"), now=now + seconds(10))
    assert failed.run_at == now + seconds(30)  # 10 + 10 * 2
    lease = await lease_one(store, now=now + seconds(30))
    dead = await store.fail(job.id, lease.lease_token, FailureInfo("boom"), now=now + seconds(30))
    assert dead.state is JobState.DLQ and dead.attempts == 3 and dead.finished_at is not None
    outcomes = [a.outcome for a in await store.list_attempts(job.id)]
    assert outcomes == [AttemptOutcome.FAILED] * 3


async def test_release_gives_an_unstarted_lease_back_without_using_an_attempt(
    store: Store,
) -> None:
    job = (await store.enqueue(NewJob(type="t", max_attempts=1))).job
    other = (await store.enqueue(NewJob(type="t"))).job
    first = await store.lease(LeaseRequest(worker_id="w1", max_jobs=2))
    tokens = {lease.job_id: lease.lease_token for lease in first}
    outcomes = await store.release_many(
        [
            (job.id, tokens[job.id]),
            (other.id, "forged-token"),  # not the lease: refused, nothing changes
            (10**12, tokens[job.id]),  # no such job
        ]
    )
    assert outcomes[0] is None
    assert isinstance(outcomes[1], LeaseLost) and isinstance(outcomes[2], JobNotFound)
    released = await store.get_job(job.id)
    assert released.state is JobState.PENDING and released.attempts == 0
    assert released.lease_expires_at is None and await store.list_attempts(job.id) == []
    assert (await store.get_job(other.id)).state is JobState.LEASED
    # The old token is dead; a re-lease is attempt 1 again (max_attempts=1 is not used up).
    again = await lease_one(store)
    assert again.job_id == job.id and again.attempt == 1
    stale = await store.release_many([(job.id, tokens[job.id])])
    assert isinstance(stale[0], LeaseLost)
    done = await store.complete(Completion(job.id, again.lease_token, "ok"))
    assert done.state is JobState.SUCCEEDED and done.attempts == 1
    assert [a.attempt for a in await store.list_attempts(job.id)] == [1]


async def test_non_retryable_failure_dead_letters_at_once(store: Store) -> None:
    job = (await store.enqueue(NewJob(type="t", max_attempts=10))).job
    lease = await lease_one(store)
    dead = await store.fail(job.id, lease.lease_token, FailureInfo("bad input", retryable=False))
    assert dead.state is JobState.DLQ and dead.attempts == 1


async def test_an_owner_sees_only_its_own_jobs(store: Store) -> None:
    """With ``owner``, another owner's job (or one without an owner) is not found."""
    mine = (await store.enqueue(NewJob(type="t", owner="key-a"))).job
    theirs = (await store.enqueue(NewJob(type="t", owner="key-b"))).job
    nobody = (await store.enqueue(NewJob(type="t"))).job
    assert (await store.get_job(mine.id, owner="key-a")).id == mine.id
    assert await store.get_jobs([mine.id, theirs.id, nobody.id], owner="key-a") == {
        mine.id: await store.get_job(mine.id)
    }
    for other in (theirs.id, nobody.id):
        with pytest.raises(JobNotFound):
            await store.get_job(other, owner="key-a")
        with pytest.raises(JobNotFound):
            await store.list_attempts(other, owner="key-a")
        with pytest.raises(JobNotFound):
            await store.cancel(other, owner="key-a")
        assert (await store.get_job(other)).state is JobState.PENDING  # not cancelled
    assert await store.list_attempts(mine.id, owner="key-a") == []
    await lease_one(store)
    assert [a.attempt for a in await store.list_attempts(mine.id, owner="key-a")] == [1]
    assert (await store.cancel(mine.id, owner="key-a")).state is JobState.CANCELLED
    with pytest.raises(InvalidTransition):  # its own job, in a state cancel does not leave
        await store.cancel(mine.id, owner="key-a")


async def test_cancel_pending_and_leased(store: Store) -> None:
    pending = (await store.enqueue(NewJob(type="t", delay_seconds=100))).job
    cancelled = await store.cancel(pending.id)
    assert cancelled.state is JobState.CANCELLED and not cancelled.cancel_requested
    running = (await store.enqueue(NewJob(type="t"))).job
    lease = await lease_one(store)
    cancelled = await store.cancel(running.id)
    assert cancelled.state is JobState.CANCELLED and cancelled.cancel_requested
    # The worker hears about it on its next heartbeat, and cannot complete any more.
    beat = await store.heartbeat(running.id, lease.lease_token)
    assert beat.cancel_requested is True
    with pytest.raises(LeaseLost):
        await store.complete(Completion(running.id, lease.lease_token, 1))
    assert [a.outcome for a in await store.list_attempts(running.id)] == [AttemptOutcome.CANCELLED]
    with pytest.raises(InvalidTransition):
        await store.cancel(running.id)


async def test_retry_gives_a_fresh_budget(store: Store) -> None:
    job = (await store.enqueue(NewJob(type="t", max_attempts=1))).job
    lease = await lease_one(store)
    await store.fail(job.id, lease.lease_token, FailureInfo("x"))
    with pytest.raises(InvalidTransition):
        await store.retry((await store.enqueue(NewJob(type="other"))).job.id)
    again = await store.retry(job.id)
    assert again.state is JobState.PENDING and again.attempts == 0
    lease = await lease_one(store, types=("t",))
    assert lease.attempt == 1
    # The old token is dead for good.
    with pytest.raises(LeaseLost):
        await store.heartbeat(job.id, "stale")
    attempts = await store.list_attempts(job.id)
    assert [(a.attempt, a.outcome) for a in attempts] == [(1, AttemptOutcome.FAILED), (1, None)]


async def test_redrive_with_filters_and_limit(store: Store) -> None:
    specs = [("q1", "a"), ("q1", "a"), ("q1", "b"), ("q2", "a")]
    jobs = [
        r.job
        for r in await store.enqueue_many(
            [NewJob(type=t, queue=q, max_attempts=1) for q, t in specs]
        )
    ]
    for _ in jobs:
        lease = (await store.lease(LeaseRequest(worker_id="w", queues=("q1", "q2"))))[0]
        await store.fail(lease.job_id, lease.lease_token, FailureInfo("x"))
    dead = await store.list_jobs(JobFilter(state=JobState.DLQ, limit=10))
    assert len(dead) == 4
    assert await store.redrive(queue="q1", type_="a", limit=1) == 1
    assert await store.redrive(queue="q1", type_=None, limit=100) == 2
    assert await store.redrive(queue=None, type_=None, limit=100) == 1
    assert await store.redrive(queue=None, type_=None, limit=100) == 0
    states = {j.state for j in await store.list_jobs(JobFilter(limit=10))}
    assert states == {JobState.PENDING}


async def test_list_jobs_filters_and_cursor(store: Store) -> None:
    await store.enqueue_many(
        [NewJob(type="a" if i % 2 else "b", queue="q") for i in range(25)]
        + [NewJob(type="a", queue="other")]
    )
    seen: list[int] = []
    cursor = None
    while True:
        page = await store.list_jobs(JobFilter(queue="q", limit=10, before_id=cursor))
        seen.extend(j.id for j in page)
        if len(page) < 10:
            break
        cursor = page[-1].id
    assert len(seen) == 25 and seen == sorted(seen, reverse=True) and len(set(seen)) == 25
    only_a = await store.list_jobs(JobFilter(queue="q", type="a", limit=100))
    assert len(only_a) == 12 and {j.type for j in only_a} == {"a"}


async def test_attempts_of_an_unknown_job(store: Store) -> None:
    with pytest.raises(JobNotFound):
        await store.list_attempts(123456)


async def test_counts_by_queue_and_state(store: Store) -> None:
    await store.enqueue_many([NewJob(type="t", queue="q1"), NewJob(type="t", queue="q2")])
    await lease_one(store, queues=("q1",))
    assert sorted(await store.counts_by_queue_state()) == [
        ("q1", "leased", 1),
        ("q2", "pending", 1),
    ]


@pytest.mark.parametrize("return_jobs", [True, False])
async def test_a_completion_stores_the_handlers_last_details(
    store: Store, return_jobs: bool
) -> None:
    """Issue 13, bug 2: progress reported after the last heartbeat is kept by the completion
    itself (the same guarded statement), and a completion without details keeps the stored
    ones."""
    jobs = [r.job for r in await store.enqueue_many([NewJob(type="t") for _ in range(4)])]
    leases = await store.lease(LeaseRequest(worker_id="w", max_jobs=4))
    token = {lease.job_id: lease.lease_token for lease in leases}
    first, second, third, fourth = (job.id for job in jobs)
    await store.heartbeat(second, token[second], details={"done": 2}, set_details=True)
    await store.heartbeat(fourth, token[fourth], details={"done": 2}, set_details=True)
    outcomes = await store.complete_many(
        [
            Completion(first, token[first], 1, details={"done": 5, "of": 5}, set_details=True),
            Completion(second, token[second], 2),  # no details: the stored ones stay
            Completion(third, token[third], 3, details="finishing", set_details=True),
            Completion(fourth, "forged", 4, details={"done": 99}, set_details=True),
        ],
        return_jobs=return_jobs,
    )
    assert [type(o).__name__ for o in outcomes[:3]] == ["Job" if return_jobs else "Completed"] * 3
    assert isinstance(outcomes[3], LeaseLost)
    if return_jobs:
        assert [o.heartbeat_details for o in outcomes[:3]] == [  # type: ignore[union-attr]
            {"done": 5, "of": 5},
            {"done": 2},
            "finishing",
        ]
    stored = [(await store.get_job(job_id)).heartbeat_details for job_id in (first, second, third)]
    assert stored == [{"done": 5, "of": 5}, {"done": 2}, "finishing"]
    assert (await store.get_job(fourth)).heartbeat_details == {"done": 2}


async def test_a_worker_is_recorded_with_the_types_it_asks_for(store: Store) -> None:
    now = await store.db_now()
    await store.record_worker_seen("typed", ["q"], types=["a", "b"], now=now)
    await store.record_worker_seen("every-type", ["q"], now=now)
    workers = {w.worker_id: w for w in await store.list_workers(since=now - seconds(1))}
    assert workers["typed"].types == ("a", "b") and workers["every-type"].types is None
    assert workers["typed"].serves("q", "a") and not workers["typed"].serves("q", "c")
    assert workers["every-type"].serves("q", "c") and not workers["every-type"].serves("r", "c")
    # Seen again with other handlers: the latest types replace the old ones.
    await store.record_worker_seen("typed", ["q"], types=["c"], now=now + seconds(1))
    [typed] = [w for w in await store.list_workers(since=now) if w.worker_id == "typed"]
    assert typed.types == ("c",)
    assert typed.is_polling(now + seconds(60)) and not typed.is_polling(now + seconds(62))

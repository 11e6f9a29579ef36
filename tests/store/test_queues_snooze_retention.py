"""Conformance (SQLite and PostgreSQL): readiness, queue pause and settings, snooze, retention.

Time is moved, never waited for: store calls take ``now``, anchored on the database clock.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from job_orchestrator.domain.errors import JobNotFound, LeaseLost
from job_orchestrator.domain.models import (
    Completion,
    FailureInfo,
    LeaseRequest,
    NewJob,
    QueueChange,
    QueueSettings,
    Snooze,
)
from job_orchestrator.domain.states import AttemptOutcome, JobState
from job_orchestrator.store import Store
from job_orchestrator.store.sql_store import SqlStore

PAUSE = QueueChange(paused=True)
RESUME = QueueChange(paused=False)


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


def lease_request(*queues: str, max_jobs: int = 100) -> LeaseRequest:
    return LeaseRequest(worker_id="w", queues=queues or ("default",), max_jobs=max_jobs)


# ---- readiness: the claim and the rules agree -----------------------------------------------
async def test_the_claim_hands_out_exactly_the_jobs_every_rule_calls_ready(store: Store) -> None:
    now = await store.db_now()
    await store.put_queue("paused", PAUSE, now=now)
    specs = {
        "ready": NewJob(type="ready", queue="open"),
        "future": NewJob(type="future", queue="open", delay_seconds=60),
        "paused": NewJob(type="paused", queue="paused"),
        "paused_and_future": NewJob(type="both", queue="paused", delay_seconds=60),
    }
    jobs = {name: (await store.enqueue(spec, now=now)).job.id for name, spec in specs.items()}
    rules = {name: await store.readiness(job_id, now=now) for name, job_id in jobs.items()}
    assert rules == {
        "ready": {"run_at_in_future": True, "queue_paused": True},
        "future": {"run_at_in_future": False, "queue_paused": True},
        "paused": {"run_at_in_future": True, "queue_paused": False},
        "paused_and_future": {"run_at_in_future": False, "queue_paused": False},
    }
    said_ready = {jobs[name] for name, held in rules.items() if all(held.values())}
    leased = await store.lease(lease_request("open", "paused"), now=now)
    assert {lease.job_id for lease in leased} == said_ready
    with pytest.raises(JobNotFound):
        await store.readiness(10**12)


# ---- queues -----------------------------------------------------------------------------------
async def test_a_paused_queue_leases_nothing_and_accepts_enqueues(store: Store) -> None:
    now = await store.db_now()
    running = (await store.enqueue(NewJob(type="running", queue="q"), now=now)).job
    lease = (await store.lease(lease_request("q"), now=now))[0]
    settings = await store.put_queue("q", PAUSE, now=now)
    assert settings == QueueSettings("q", paused=True)
    waiting = (await store.enqueue(NewJob(type="waiting", queue="q"), now=now)).job
    other = (await store.enqueue(NewJob(type="other", queue="elsewhere"), now=now)).job
    assert waiting.state is JobState.PENDING
    later = now + seconds(5)
    leased = await store.lease(lease_request("q", "elsewhere"), now=later)
    assert [x.job_id for x in leased] == [other.id]
    # The leased job of the paused queue runs on: heartbeat and completion work.
    await store.heartbeat(running.id, lease.lease_token, now=later)
    done = await store.complete(Completion(running.id, lease.lease_token, {"ok": 1}), now=later)
    assert done.state is JobState.SUCCEEDED
    await store.put_queue("q", RESUME, now=later)
    assert [x.job_id for x in await store.lease(lease_request("q"), now=later)] == [waiting.id]


async def test_a_leased_job_of_a_paused_queue_can_fail_and_then_waits(store: Store) -> None:
    now = await store.db_now()
    job = (await store.enqueue(NewJob(type="t", queue="q"), now=now)).job
    lease = (await store.lease(lease_request("q"), now=now))[0]
    await store.put_queue("q", PAUSE, now=now)
    failed = await store.fail(job.id, lease.lease_token, FailureInfo("x", retry_after_seconds=0))
    assert failed.state is JobState.PENDING
    assert await store.lease(lease_request("q"), now=now + seconds(60)) == []


async def test_queue_settings_are_partial_updates_with_defaults(store: Store) -> None:
    assert await store.queue_settings("fresh") == QueueSettings("fresh")
    limits = QueueChange(
        rate_limit_per_second=2.5,
        rate_limit_given=True,
        concurrency_limit=3,
        concurrency_limit_given=True,
    )
    assert await store.put_queue("q", limits) == QueueSettings("q", False, 2.5, 3)
    # Pausing leaves the limits as they were; null clears one limit only.
    assert await store.put_queue("q", PAUSE) == QueueSettings("q", True, 2.5, 3)
    cleared = QueueChange(rate_limit_per_second=None, rate_limit_given=True)
    assert await store.put_queue("q", cleared) == QueueSettings("q", True, None, 3)
    assert await store.queue_settings("q") == QueueSettings("q", True, None, 3)
    assert await store.put_queue("q", QueueChange()) == QueueSettings("q", True, None, 3)


async def test_list_queues_counts_states_and_the_oldest_ready_job(store: Store) -> None:
    now = await store.db_now()
    await store.enqueue(NewJob(type="old", queue="a", run_at=now - seconds(30)), now=now)
    await store.enqueue(NewJob(type="new", queue="a", run_at=now - seconds(10)), now=now)
    await store.enqueue(NewJob(type="future", queue="a", delay_seconds=600), now=now)
    await store.enqueue(NewJob(type="p", queue="b", run_at=now - seconds(50)), now=now)
    await store.enqueue(NewJob(type="leased", queue="c"), now=now)
    await store.lease(lease_request("c"), now=now)
    await store.put_queue("b", PAUSE, now=now)
    await store.put_queue(
        "settings-only", QueueChange(concurrency_limit=2, concurrency_limit_given=True)
    )
    queues = {q.settings.name: q for q in await store.list_queues(now=now)}
    assert list(queues) == ["a", "b", "c", "settings-only"]
    a = queues["a"]
    assert a.counts == {"pending": 3, "leased": 0, "succeeded": 0, "dlq": 0, "cancelled": 0}
    assert a.oldest_ready_seconds == pytest.approx(30, abs=0.01)
    assert a.settings == QueueSettings("a")
    # A paused queue has no ready job (one readiness definition), whatever its backlog.
    assert queues["b"].settings.paused and queues["b"].oldest_ready_seconds is None
    assert queues["b"].counts["pending"] == 1
    assert queues["c"].counts["leased"] == 1 and queues["c"].oldest_ready_seconds is None
    assert queues["settings-only"].settings.concurrency_limit == 2
    assert sum(queues["settings-only"].counts.values()) == 0
    one = await store.list_queues(name="a", now=now)
    assert one == [a]
    (unknown,) = await store.list_queues(name="nothing-here", now=now)
    assert (
        unknown.settings == QueueSettings("nothing-here") and unknown.oldest_ready_seconds is None
    )


# ---- snooze ------------------------------------------------------------------------------------
async def test_snooze_puts_the_job_back_for_later_without_counting_the_attempt(
    store: Store,
) -> None:
    now = await store.db_now()
    job = (await store.enqueue(NewJob(type="t", max_attempts=1), now=now)).job
    lease = (await store.lease(lease_request(), now=now))[0]
    snoozed = await store.snooze(
        Snooze(job.id, lease.lease_token, 60, {"cursor": 7}, set_details=True), now=now
    )
    assert snoozed.state is JobState.PENDING
    assert snoozed.run_at == now + seconds(60)
    assert snoozed.attempts == 0
    assert snoozed.heartbeat_details == {"cursor": 7}
    assert snoozed.lease_expires_at is None
    assert snoozed == await store.get_job(job.id)
    attempts = await store.list_attempts(job.id)
    assert [(a.attempt, a.outcome) for a in attempts] == [(1, AttemptOutcome.SNOOZED)]
    assert attempts[0].finished_at == now
    assert await store.lease(lease_request(), now=now + seconds(59)) == []
    # max_attempts 1 and snoozed three times: never the DLQ, the details handed on.
    for round_ in range(3):
        at = now + seconds(60 * (round_ + 1))
        again = (await store.lease(lease_request(), now=at))[0]
        assert again.attempt == 1 and again.heartbeat_details == {"cursor": 7}
        await store.snooze(Snooze(job.id, again.lease_token, 60), now=at)
    final = (await store.lease(lease_request(), now=now + seconds(240)))[0]
    failed = await store.fail(job.id, final.lease_token, FailureInfo("x"), now=now + seconds(240))
    assert failed.state is JobState.DLQ and failed.attempts == 1


async def test_snooze_zero_is_ready_at_once_and_keeps_details_unless_given(store: Store) -> None:
    now = await store.db_now()
    job = (await store.enqueue(NewJob(type="t"), now=now)).job
    lease = (await store.lease(lease_request(), now=now))[0]
    await store.heartbeat(job.id, lease.lease_token, details={"kept": 1}, set_details=True)
    snoozed = await store.snooze(Snooze(job.id, lease.lease_token, 0), now=now)
    assert snoozed.heartbeat_details == {"kept": 1} and snoozed.run_at == now
    assert [x.job_id for x in await store.lease(lease_request(), now=now)] == [job.id]


async def test_snooze_is_fenced_like_complete(store: Store) -> None:
    now = await store.db_now()
    job = (await store.enqueue(NewJob(type="t", timeout_seconds=10), now=now)).job
    lease = (await store.lease(lease_request(), now=now))[0]
    with pytest.raises(LeaseLost):
        await store.snooze(Snooze(job.id, "not-the-token", 5), now=now)
    with pytest.raises(JobNotFound):
        await store.snooze(Snooze(10**12, lease.lease_token, 5), now=now)
    # Past the execution deadline the token is worthless (the reaper ends the attempt).
    with pytest.raises(LeaseLost):
        await store.snooze(Snooze(job.id, lease.lease_token, 5), now=now + seconds(11))
    await store.snooze(Snooze(job.id, lease.lease_token, 5), now=now + seconds(1))
    with pytest.raises(LeaseLost):  # a second snooze with the same token: no longer leased
        await store.snooze(Snooze(job.id, lease.lease_token, 5), now=now + seconds(1))
    assert (await store.get_job(job.id)).state is JobState.PENDING


# ---- retention ---------------------------------------------------------------------------------
async def finished_jobs(store: Store, now_offset: float = 0.0) -> dict[str, int]:
    """One job in every state; the terminal ones finished at the database clock's now."""
    now = await store.db_now() + seconds(now_offset)
    ids = {}
    for state in ("succeeded", "dlq", "cancelled", "leased", "pending"):
        ids[state] = (await store.enqueue(NewJob(type=state, queue=state), now=now)).job.id
    for state in ("succeeded", "dlq", "leased"):
        lease = (await store.lease(lease_request(state), now=now))[0]
        if state == "succeeded":
            await store.complete(Completion(ids[state], lease.lease_token, 1), now=now)
        elif state == "dlq":
            failure = FailureInfo("x", retryable=False)
            await store.fail(ids[state], lease.lease_token, failure, now=now)
    await store.cancel(ids["cancelled"], now=now)
    return ids


async def test_expired_terminal_jobs_are_deleted_and_others_never(store: Store) -> None:
    now = await store.db_now()
    ids = await finished_jobs(store)
    assert await store.deleted_total() == 0
    for state in ("succeeded", "dlq", "cancelled"):
        # One second short of the period: kept.
        kept = await store.delete_expired(
            state, retain_seconds=100, limit=10, now=now + seconds(99)
        )
        assert kept == 0
    for state in ("succeeded", "dlq", "cancelled", "leased", "pending"):
        deleted = await store.delete_expired(
            state, retain_seconds=100, limit=10, now=now + seconds(10**6)
        )
        assert deleted == (1 if state in ("succeeded", "dlq", "cancelled") else 0), state
    remaining = await store.get_jobs(list(ids.values()))
    assert sorted(job.type for job in remaining.values()) == ["leased", "pending"]
    with pytest.raises(JobNotFound):
        await store.get_job(ids["succeeded"])
    assert await store.deleted_total() == 3


async def test_attempts_completion_and_idempotency_key_go_with_the_job(store: Store) -> None:
    now = await store.db_now()
    job = (await store.enqueue(NewJob(type="t", payload=1, idempotency_key="once"), now=now)).job
    lease = (await store.lease(lease_request(), now=now))[0]
    await store.complete(Completion(job.id, lease.lease_token, {"r": 1}, "c-key"), now=now)
    deleted = await store.delete_expired(
        "succeeded", retain_seconds=60, limit=10, now=now + seconds(61)
    )
    assert deleted == 1
    assert isinstance(store, SqlStore)
    async with store.reader_engine.connect() as conn:
        for table in ("job_attempts", "job_completions", "job_idempotency_keys"):
            left = (
                await conn.execute(
                    text(f"SELECT count(*) FROM {table} WHERE job_id = :id"), {"id": job.id}
                )
            ).scalar_one()
            assert left == 0, table
    # The key is forgotten with its job: the same key creates a new job.
    again = await store.enqueue(NewJob(type="t", payload=1, idempotency_key="once"))
    assert again.created and again.job.id != job.id


async def test_deletes_are_bounded_batches_oldest_finished_first(store: Store) -> None:
    now = await store.db_now()
    ids = []
    for i in range(5):
        at = now + seconds(i)
        job = (await store.enqueue(NewJob(type=f"t{i}"), now=at)).job
        lease = (await store.lease(lease_request(), now=at))[0]
        await store.complete(Completion(job.id, lease.lease_token, None), now=at)
        ids.append(job.id)
    late = now + seconds(1000)
    assert await store.delete_expired("succeeded", retain_seconds=10, limit=2, now=late) == 2
    assert sorted(await store.get_jobs(ids)) == ids[2:]
    assert await store.delete_expired("succeeded", retain_seconds=10, limit=2, now=late) == 2
    assert await store.delete_expired("succeeded", retain_seconds=10, limit=2, now=late) == 1
    assert await store.delete_expired("succeeded", retain_seconds=10, limit=2, now=late) == 0
    assert await store.deleted_total() == 5


async def test_a_retried_job_is_pending_again_and_kept(store: Store) -> None:
    now = await store.db_now()
    ids = await finished_jobs(store)
    await store.retry(ids["dlq"], now=now)
    assert await store.delete_expired("dlq", retain_seconds=1, limit=10, now=now + seconds(99)) == 0
    assert (await store.get_job(ids["dlq"])).state is JobState.PENDING


async def test_a_claim_on_queues_that_are_all_paused_leases_nothing(store: Store) -> None:
    """The one-time shortcut (readiness.some_asked_queue_not_paused) agrees with the rule."""
    now = await store.db_now()
    await store.enqueue_many([NewJob(type="t", queue=q) for q in ("a", "b", "a")], now=now)
    await store.put_queue("a", PAUSE, now=now)
    await store.put_queue("b", PAUSE, now=now)
    assert await store.lease(lease_request("a", "b", "a"), now=now) == []
    await store.put_queue("b", RESUME, now=now)
    leased = await store.lease(lease_request("a", "b", "a"), now=now)
    assert [x.queue for x in leased] == ["b"]

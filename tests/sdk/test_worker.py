"""The worker against a real server process, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from job_orchestrator.sdk import (
    AsyncClient,
    HandlerCancelled,
    JobFailed,
    JobSpec,
    JobState,
    NonRetryableError,
    RetryPolicy,
    handler,
    heartbeat,
    info,
)
from tests.sdk.helpers import Proxy, eventually, running_worker

pytestmark = pytest.mark.slow


async def test_async_and_sync_handlers(server_url: str, aclient: AsyncClient, queue: str) -> None:
    @handler("async_add")
    async def async_add(payload: dict[str, int]) -> dict[str, Any]:
        return {
            "sum": payload["a"] + payload["b"],
            "job": info().job_id,
            "thread": threading.current_thread().name,
        }

    @handler("sync_add")
    def sync_add(payload: dict[str, int]) -> dict[str, Any]:
        job = info()
        return {"sum": payload["a"] + payload["b"], "job": job.job_id, "queue": job.queue,
                "thread": threading.current_thread().name}  # fmt: skip

    async with running_worker(server_url, queue, [async_add, sync_add]) as worker:
        first = await aclient.enqueue("async_add", {"a": 1, "b": 2}, queue=queue)
        second = await aclient.enqueue("sync_add", {"a": 3, "b": 4}, queue=queue)
        first_result = await aclient.wait(first.id, timeout=20)
        second_result = await aclient.wait(second.id, timeout=20)
    loop_thread = threading.current_thread().name
    assert first_result == {"sum": 3, "job": first.id, "thread": loop_thread}
    assert second_result["sum"] == 7 and second_result["job"] == second.id
    assert second_result["queue"] == queue
    assert second_result["thread"].startswith("job-handler")  # a plain def runs in the pool
    attempts = await aclient.attempts(second.id)
    assert [(a.outcome, a.worker_id) for a in attempts] == [("succeeded", worker.worker_id)]


async def test_concurrency_limit_is_respected(
    server_url: str, aclient: AsyncClient, queue: str
) -> None:
    running = 0
    peak = 0

    @handler("work")
    async def work(_: Any) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.15)
        running -= 1

    jobs = await aclient.enqueue_many([JobSpec("work", queue=queue) for _ in range(10)])
    async with running_worker(server_url, queue, [work], concurrency=3):
        for job in jobs:
            await aclient.wait(job.id, timeout=30)
    assert peak == 3


async def test_many_quick_jobs_complete_in_batches(
    server_url: str, aclient: AsyncClient, queue: str
) -> None:
    @handler("echo")
    async def echo(payload: int) -> int:
        return payload

    jobs = await aclient.enqueue_many([JobSpec("echo", i, queue=queue) for i in range(300)])
    async with running_worker(server_url, queue, [echo], concurrency=50):
        results = [await aclient.wait(job.id, timeout=60) for job in jobs]
    assert results == list(range(300))


async def test_heartbeats_keep_a_slow_jobs_lease(
    server_url: str, aclient: AsyncClient, queue: str
) -> None:
    @handler("slow")
    def slow(_: Any) -> str:
        for step in range(6):  # 1.8 s with a 1 s lease: it survives only by heartbeating
            time.sleep(0.3)
            heartbeat({"step": step})
        return "done"

    job = await aclient.enqueue("slow", queue=queue, lease_seconds=1, max_attempts=3)
    async with running_worker(server_url, queue, [slow]):
        assert await aclient.wait(job.id, timeout=30) == "done"
    attempts = await aclient.attempts(job.id)
    assert [a.outcome for a in attempts] == ["succeeded"]
    final = await aclient.get(job.id)
    assert final.heartbeat_details["step"] >= 2  # the handler's details travelled with beats


async def test_the_next_attempt_resumes_from_saved_details(
    server_url: str, aclient: AsyncClient, queue: str
) -> None:
    @handler("resumable")
    def resumable(_: Any) -> Any:
        if info().attempt == 1:
            heartbeat({"checkpoint": 7})
            raise RuntimeError("crash after a checkpoint")
        return info().heartbeat_details

    job = await aclient.enqueue(
        "resumable", queue=queue, retry=RetryPolicy(initial_seconds=0.01, jitter=False)
    )
    async with running_worker(server_url, queue, [resumable]):
        assert await aclient.wait(job.id, timeout=30) == {"checkpoint": 7}


@pytest.mark.parametrize("kind", ["async", "sync"])
async def test_cancellation_reaches_a_running_handler(
    server_url: str, aclient: AsyncClient, queue: str, kind: str
) -> None:
    started = threading.Event()
    stopped = threading.Event()

    @handler("forever_async")
    async def forever_async(_: Any) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()

    @handler("forever_sync")
    def forever_sync(_: Any) -> None:
        started.set()
        try:
            while True:
                heartbeat()  # raises HandlerCancelled once the job is cancelled
                time.sleep(0.02)
        except HandlerCancelled:
            stopped.set()
            raise

    job = await aclient.enqueue(f"forever_{kind}", queue=queue, lease_seconds=1)
    async with running_worker(server_url, queue, [forever_async, forever_sync]):
        assert await asyncio.to_thread(started.wait, 20)
        cancelled = await aclient.cancel(job.id)
        assert cancelled.state is JobState.CANCELLED
        # The next heartbeat (every lease_seconds / 3) carries cancel_requested.
        assert await asyncio.to_thread(stopped.wait, 5)
    assert (await aclient.get(job.id)).state is JobState.CANCELLED
    assert [a.outcome for a in await aclient.attempts(job.id)] == ["cancelled"]


async def test_lease_loss_abandons_the_attempt(
    server_url: str, aclient: AsyncClient, queue: str, caplog: pytest.LogCaptureFixture
) -> None:
    started = asyncio.Event()
    stopped = asyncio.Event()

    @handler("partitioned")
    async def partitioned(_: Any) -> str:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            stopped.set()
        # Returning a value after the stop: the worker must discard it, not complete with it.
        return "too late"

    caplog.set_level(logging.INFO, logger="job_orchestrator.worker")
    job = await aclient.enqueue("partitioned", queue=queue, lease_seconds=1, max_attempts=1)
    async with (
        Proxy(urlsplit(server_url).port or 80) as proxy,
        running_worker(proxy.url, queue, [partitioned]),
    ):
        await asyncio.wait_for(started.wait(), 20)
        proxy.partition()  # heartbeats cannot get through: the server reaps the lease

        async def lease_expired() -> bool:
            attempts = await aclient.attempts(job.id)
            return attempts[0].outcome == "lease_expired"

        await eventually(lease_expired, what="the reaper to expire the lease")
        proxy.heal()  # the next heartbeat hears 409 lease_lost
        await asyncio.wait_for(stopped.wait(), 10)
    final = await aclient.get(job.id)
    assert final.state is JobState.DLQ and final.result is None
    assert f"job={job.id} attempt=1 stopped (lease_lost); not reporting a result" in caplog.text


async def test_failures_retries_and_non_retryable_errors(
    server_url: str, aclient: AsyncClient, queue: str, caplog: pytest.LogCaptureFixture
) -> None:
    @handler("flaky")
    def flaky(_: Any) -> str:
        if info().attempt == 1:
            raise ValueError("first try fails")
        return "second try works"

    @handler("poison")
    async def poison(_: Any) -> None:
        raise NonRetryableError("bad payload")

    @handler("configured")
    def configured(_: Any) -> None:
        raise KeyError("missing")

    @handler("unserializable")
    async def unserializable(_: Any) -> object:
        return object()

    caplog.set_level(logging.DEBUG, logger="job_orchestrator.worker")
    fast_retry = RetryPolicy(initial_seconds=0.01, jitter=False)
    handlers = [flaky, poison, configured, unserializable]
    async with running_worker(server_url, queue, handlers, non_retryable=[KeyError]):
        flaky_job = await aclient.enqueue("flaky", queue=queue, retry=fast_retry)
        assert await aclient.wait(flaky_job.id, timeout=30) == "second try works"
        for job_type in ("poison", "configured", "unserializable"):
            job = await aclient.enqueue(job_type, queue=queue, retry=fast_retry)
            with pytest.raises(JobFailed) as failed:
                await aclient.wait(job.id, timeout=30)
            assert failed.value.job.attempts == 1  # straight to the DLQ, no retries
            assert failed.value.job.last_error["retryable"] is False
    attempts = await aclient.attempts(flaky_job.id)
    assert [a.outcome for a in attempts] == ["failed", "succeeded"]
    assert attempts[0].error["type"] == "ValueError"
    assert attempts[0].error["message"] == "first try fails"
    # Every line about a job names it and its attempt; no lease token appears anywhere.
    job_lines = [r.getMessage() for r in caplog.records if "job=" in r.getMessage()]
    assert job_lines and all(re.match(r"job=\d+ attempt=\d+ ", line) for line in job_lines)
    assert not re.search(r"[A-Za-z0-9_-]{40,}", caplog.text)


async def test_the_deadline_is_enforced_locally(
    server_url: str, aclient: AsyncClient, queue: str
) -> None:
    stopped = asyncio.Event()

    @handler("overrun")
    async def overrun(_: Any) -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            stopped.set()
            raise

    # A 60 s lease: no heartbeat within the test could tell the worker; only its own timer can.
    job = await aclient.enqueue(
        "overrun", queue=queue, timeout_seconds=0.5, lease_seconds=60, max_attempts=1
    )
    async with running_worker(server_url, queue, [overrun]):
        await asyncio.wait_for(stopped.wait(), 10)
        with pytest.raises(JobFailed):
            await aclient.wait(job.id, timeout=10)
    [attempt] = await aclient.attempts(job.id)
    assert attempt.outcome in ("failed", "timed_out")  # the worker or the reaper, whichever won


async def test_graceful_shutdown_leaves_nothing_leased(
    server_url: str, aclient: AsyncClient, queue: str
) -> None:
    started: dict[str, asyncio.Event] = {n: asyncio.Event() for n in ("quick", "stuck", "loops")}
    loop = asyncio.get_running_loop()

    @handler("quick")
    async def quick(_: Any) -> str:
        started["quick"].set()
        await asyncio.sleep(1.5)  # longer than its 1 s lease: heartbeats go on during the grace
        return "finished in the grace period"

    @handler("stuck")
    async def stuck(_: Any) -> None:
        started["stuck"].set()
        await asyncio.Event().wait()

    @handler("loops")
    def loops(_: Any) -> None:
        loop.call_soon_threadsafe(started["loops"].set)
        while True:
            heartbeat({"progress": "some"})
            time.sleep(0.02)

    # Without the worker's retry_after_seconds=0, these would wait 60 s before a retry.
    slow_retry = RetryPolicy(initial_seconds=60, jitter=False)
    jobs = {
        name: await aclient.enqueue(name, queue=queue, lease_seconds=1, retry=slow_retry)
        for name in started
    }
    async with running_worker(server_url, queue, [quick, stuck, loops], grace_seconds=3) as w:
        for event in started.values():
            await asyncio.wait_for(event.wait(), 20)
        await w.shutdown()
        await w.shutdown()  # idempotent
    assert (await aclient.list_jobs(queue=queue, state="leased")).jobs == []
    assert await aclient.wait(jobs["quick"].id, timeout=5) == "finished in the grace period"
    for name in ("stuck", "loops"):
        job = await aclient.get(jobs[name].id)
        assert job.state is JobState.PENDING and job.attempts == 1
        assert job.last_error["type"] == "WorkerShutdown"
        assert job.run_at - job.updated_at < timedelta(seconds=5)  # retried at once
    assert (await aclient.get(jobs["loops"].id)).heartbeat_details == {"progress": "some"}


async def test_prefetch_leases_ahead_but_runs_only_concurrency_at_once(
    server_url: str, aclient: AsyncClient, queue: str
) -> None:
    running = 0
    peak = 0

    @handler("short")
    async def short(payload: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        return payload

    jobs = await aclient.enqueue_many([JobSpec("short", i, queue=queue) for i in range(200)])
    async with running_worker(server_url, queue, [short], concurrency=4, prefetch=12) as worker:
        results = [await aclient.wait(job.id, timeout=60) for job in jobs]
        assert worker.running_jobs == 0
    assert results == list(range(200)) and peak == 4
    # Every job ran once, on its first attempt: waiting in the buffer cost nothing.
    assert {(await aclient.get(job.id)).attempts for job in jobs} == {1}


async def test_a_prefetched_job_is_handed_back_before_its_timeout_runs_out_waiting(
    server_url: str, aclient: AsyncClient, queue: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A prefetched job's timeout runs while it waits for a slot; rather than start it with no
    time left (DeadlineExceeded, an attempt spent: with max_attempts=1 a dead job that never
    ran), the worker hands it back while the server can still take it."""
    release = asyncio.Event()

    @handler("hold")
    async def hold(_: Any) -> str:
        await release.wait()
        return "held"

    @handler("quick")
    async def quick(_: Any) -> str:
        return "ran"

    held = await aclient.enqueue("hold", queue=queue)
    async with running_worker(server_url, queue, [hold, quick], concurrency=1, prefetch=1):

        async def holding() -> bool:
            return (await aclient.get(held.id)).state is JobState.LEASED

        await eventually(holding, what="the only slot to be taken")
        waiting = await aclient.enqueue("quick", queue=queue, timeout_seconds=0.6, max_attempts=1)

        async def handed_back() -> bool:
            return any("handed back unstarted" in r.getMessage() for r in caplog.records)

        await eventually(handed_back, what="the prefetched job to be handed back")
        release.set()
        assert await aclient.wait(waiting.id, timeout=20) == "ran"
        assert await aclient.wait(held.id, timeout=20) == "held"
    job = await aclient.get(waiting.id)
    # Handed back (maybe more than once) without spending an attempt, then run once.
    assert job.attempts == 1 and len(await aclient.attempts(waiting.id)) == 1


async def test_shutdown_releases_prefetched_jobs_without_using_an_attempt(
    server_url: str, aclient: AsyncClient, queue: str
) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    @handler("hold")
    async def hold(_: Any) -> str:
        started.set()
        await release.wait()
        return "done"

    jobs = await aclient.enqueue_many(
        [JobSpec("hold", queue=queue, max_attempts=1) for _ in range(4)]
    )
    async with running_worker(server_url, queue, [hold], concurrency=1, prefetch=3) as worker:
        await asyncio.wait_for(started.wait(), 20)

        async def all_leased() -> bool:
            return len((await aclient.list_jobs(queue=queue, state="leased")).jobs) == 4

        await eventually(all_leased, what="the prefetched jobs to be leased")
        assert worker.running_jobs == 4
        stopping = asyncio.create_task(worker.shutdown())

        async def three_pending() -> bool:
            return len((await aclient.list_jobs(queue=queue, state="pending")).jobs) == 3

        # The unstarted jobs are handed back first, while the running one is still in its grace.
        await eventually(three_pending, what="the prefetched jobs to be released")
        release.set()
        await stopping
    states = {job.id: await aclient.get(job.id) for job in jobs}
    finished = [j for j in states.values() if j.state is JobState.SUCCEEDED]
    waiting = [j for j in states.values() if j.state is JobState.PENDING]
    assert len(finished) == 1 and finished[0].attempts == 1
    # max_attempts=1, yet they are pending, not dead: the release gave their attempt back.
    assert len(waiting) == 3 and all(j.attempts == 0 and j.last_error is None for j in waiting)
    for job in waiting:
        assert await aclient.attempts(job.id) == []

"""The producer clients (sync and async) against a real server, on both backends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from job_orchestrator.sdk import (
    AsyncClient,
    Client,
    ConnectionFailed,
    IdempotencyConflict,
    InvalidRequest,
    InvalidTransition,
    JobCancelled,
    JobFailed,
    JobSpec,
    JobState,
    NonRetryableError,
    NotFound,
    RetryPolicy,
    WaitTimeout,
    handler,
)
from tests.sdk.helpers import running_worker

pytestmark = pytest.mark.slow


def test_enqueue_with_every_option(client: Client, queue: str) -> None:
    run_at = datetime.now(UTC) + timedelta(hours=1)
    job = client.enqueue(
        "send_email",
        {"to": "a@example.com"},
        queue=queue,
        priority=2,
        run_at=run_at,
        max_attempts=7,
        retry=RetryPolicy(initial_seconds=0.5, multiplier=3.0, max_seconds=20.0, jitter=False),
        lease_seconds=12.5,
        timeout_seconds=60,
        idempotency_key="email-1",
    )
    assert (job.type, job.queue, job.payload) == ("send_email", queue, {"to": "a@example.com"})
    assert (job.priority, job.max_attempts, job.lease_seconds, job.timeout_seconds) == (
        2,
        7,
        12.5,
        60,
    )
    assert job.retry == RetryPolicy(0.5, 3.0, 20.0, False)
    assert abs(job.run_at - run_at) < timedelta(milliseconds=1)
    assert job.state is JobState.PENDING and job.idempotency_key == "email-1"
    delayed = client.enqueue("t", queue=queue, delay_seconds=3600)
    assert delayed.run_at - delayed.created_at > timedelta(minutes=59)


def test_idempotent_enqueue(client: Client, queue: str) -> None:
    first = client.enqueue("t", {"n": 1}, queue=queue, idempotency_key="k")
    again = client.enqueue("t", {"n": 1}, queue=queue, idempotency_key="k")
    assert again.id == first.id
    with pytest.raises(IdempotencyConflict) as conflict:
        client.enqueue("t", {"n": 2}, queue=queue, idempotency_key="k")
    assert conflict.value.status == 409 and conflict.value.code == "idempotency_conflict"


def test_enqueue_many_is_chunked_and_ordered(client: Client, queue: str) -> None:
    jobs = client.enqueue_many(JobSpec("t", i, queue=queue) for i in range(2500))
    assert [j.payload for j in jobs] == list(range(2500))
    assert len({j.id for j in jobs}) == 2500


def test_get_list_and_pages(client: Client, queue: str) -> None:
    jobs = client.enqueue_many([JobSpec("a", queue=queue), JobSpec("b", queue=queue)] * 3)
    assert client.get(jobs[0].id) == jobs[0]
    everything = client.list_jobs(queue=queue)
    assert {j.id for j in everything.jobs} == {j.id for j in jobs}
    only_b = client.list_jobs(queue=queue, type="b", state="pending")
    assert {j.type for j in only_b.jobs} == {"b"} and len(only_b.jobs) == 3
    first = client.list_jobs(queue=queue, limit=4)
    assert len(first.jobs) == 4 and first.next_cursor is not None
    rest = client.list_jobs(queue=queue, limit=4, cursor=first.next_cursor)
    assert len(rest.jobs) == 2
    assert {j.id for j in first.jobs + rest.jobs} == {j.id for j in jobs}


def test_typed_errors_carry_the_api_code(client: Client, queue: str) -> None:
    with pytest.raises(NotFound) as missing:
        client.get("999999999")
    assert (missing.value.status, missing.value.code) == (404, "not_found")
    with pytest.raises(InvalidRequest) as invalid:
        client.enqueue("t", queue=queue, priority=42)
    assert "priority" in invalid.value.message
    job = client.enqueue("t", queue=queue)
    assert client.cancel(job.id).state is JobState.CANCELLED
    with pytest.raises(InvalidTransition):
        client.cancel(job.id)


def test_cancel_retry_and_wait_outcomes(client: Client, queue: str) -> None:
    job = client.enqueue("t", queue=queue)
    with pytest.raises(WaitTimeout):
        client.wait(job.id, timeout=0.2)
    client.cancel(job.id)
    with pytest.raises(JobCancelled) as cancelled:
        client.wait(job.id, timeout=5)
    assert cancelled.value.job.state is JobState.CANCELLED
    again = client.retry(job.id)
    assert again.state is JobState.PENDING and again.attempts == 0


def test_a_server_that_is_down_is_a_connection_error() -> None:
    with Client("http://127.0.0.1:9", timeout=2) as down, pytest.raises(ConnectionFailed):
        down.get("1")


async def test_async_client_wait_dlq_and_redrive(
    server_url: str, aclient: AsyncClient, queue: str
) -> None:
    calls = 0

    @handler("poison")
    async def poison(payload: Any) -> str:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise NonRetryableError(f"bad payload {payload}")
        return "fixed"

    jobs = await aclient.enqueue_many([JobSpec("poison", i, queue=queue) for i in range(2)])
    async with running_worker(server_url, queue, [poison]):
        for job in jobs:
            with pytest.raises(JobFailed) as failed:
                await aclient.wait(job.id, timeout=20)
            assert failed.value.details["message"].startswith("bad payload")
        dead = await aclient.dlq(queue=queue)
        assert {j.id for j in dead.jobs} == {j.id for j in jobs}
        assert await aclient.redrive(queue=queue, type="other") == 0
        assert await aclient.redrive(queue=queue, type="poison", limit=1) == 1
        assert await aclient.redrive(queue=queue) == 1
        results = await asyncio.gather(*(aclient.wait(j.id, timeout=20) for j in jobs))
    assert results == ["fixed", "fixed"]
    assert (await aclient.dlq(queue=queue)).jobs == []
    attempts = await aclient.attempts(jobs[0].id)
    assert [a.outcome for a in attempts] == ["failed", "succeeded"]

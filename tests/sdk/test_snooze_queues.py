"""Snooze from a handler and the queue calls, through the SDK against a real server."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from job_orchestrator.sdk import AsyncClient, Client, Snooze, handler, heartbeat, info, snooze
from tests.sdk.helpers import running_worker

pytestmark = pytest.mark.slow


async def test_a_handler_snoozes_and_runs_again_without_using_an_attempt(
    server_url: str, aclient: AsyncClient, queue: str
) -> None:
    seen: list[Any] = []

    @handler("poll_async")
    async def poll_async(_: Any) -> str:
        seen.append(("async", info().attempt, info().heartbeat_details))
        rounds = len([s for s in seen if s[0] == "async"])
        if rounds < 3:
            snooze(0.2, details={"round": rounds})
        return "ready"

    @handler("poll_sync")
    def poll_sync(_: Any) -> str:
        mine = [s for s in seen if s[0] == "sync"]
        seen.append(
            ("sync", info().attempt, info().heartbeat_details, threading.current_thread().name)
        )
        if not mine:
            heartbeat({"progress": 1})  # not given to snooze: kept for the next attempt
            raise Snooze(0)
        return "done"

    async with running_worker(server_url, queue, [poll_async, poll_sync]):
        first = await aclient.enqueue("poll_async", queue=queue, max_attempts=1)
        second = await aclient.enqueue("poll_sync", queue=queue, max_attempts=1)
        assert await aclient.wait(first.id, timeout=20) == "ready"
        assert await aclient.wait(second.id, timeout=20) == "done"
    rounds = [s for s in seen if s[0] == "async"]
    assert [(s[1], s[2]) for s in rounds] == [(1, None), (1, {"round": 1}), (1, {"round": 2})]
    sync_rounds = [s for s in seen if s[0] == "sync"]
    assert [(s[1], s[2]) for s in sync_rounds] == [(1, None), (1, {"progress": 1})]
    assert sync_rounds[0][3].startswith("job-handler")
    attempts = await aclient.attempts(first.id)
    assert [(a.attempt, a.outcome) for a in attempts] == [
        (1, "snoozed"),
        (1, "snoozed"),
        (1, "succeeded"),
    ]
    job = await aclient.get(first.id)
    assert job.attempts == 1 and job.state.value == "succeeded"


def test_snooze_refuses_a_delay_the_server_would() -> None:
    with pytest.raises(ValueError, match="snooze seconds"):
        Snooze(-1)
    with pytest.raises(ValueError, match="snooze seconds"):
        Snooze(31_536_001)


async def test_queue_calls(client: Client, aclient: AsyncClient, queue: str) -> None:
    client.enqueue("t", queue=queue)
    paused = client.pause_queue(queue)
    assert paused.name == queue and paused.paused is True and paused.counts["pending"] == 1
    assert {q.name: q for q in client.queues()}[queue].paused is True
    resumed = await aclient.resume_queue(queue)
    assert resumed.paused is False and resumed.oldest_ready_seconds is not None
    limited = client.update_queue(queue, concurrency_limit=3, rate_limit_per_second=1.5)
    assert (limited.concurrency_limit, limited.rate_limit_per_second) == (3, 1.5)
    cleared = await aclient.update_queue(queue, rate_limit_per_second=None)
    assert (cleared.concurrency_limit, cleared.rate_limit_per_second) == (3, None)
    assert queue in {q.name for q in await aclient.queues()}

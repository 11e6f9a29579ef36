"""HandlerEnvironment: handlers run with a job context, without a server."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from job_orchestrator.sdk import HandlerCancelled, Handlers, handler, heartbeat, info
from job_orchestrator.sdk import idempotency_key as current_idempotency_key
from job_orchestrator.sdk.handlers import as_handlers
from job_orchestrator.sdk.testing import HandlerEnvironment


async def async_handler(payload: dict[str, Any]) -> dict[str, Any]:
    heartbeat({"done": 1})
    await asyncio.sleep(0)
    heartbeat()
    job = info()
    return {"job": job.job_id, "attempt": job.attempt, "resume": job.heartbeat_details, **payload}


def sync_handler(payload: int) -> dict[str, Any]:
    heartbeat({"thread": threading.current_thread().name})
    return {"key": current_idempotency_key(), "double": payload * 2}


async def test_async_handler_sees_its_job_and_records_heartbeats() -> None:
    env = HandlerEnvironment(job_id="9", attempt=2, heartbeat_details={"done": 0})
    result = await env.run(async_handler, {"x": 1})
    assert result == {"job": "9", "attempt": 2, "resume": {"done": 0}, "x": 1}
    assert env.heartbeats == [{"done": 1}, None]
    assert env.last_details == {"done": 1}  # a bare heartbeat() keeps the details


async def test_sync_handler_runs_in_a_thread_with_the_context() -> None:
    env = HandlerEnvironment(job_id="77")
    result = await env.run(sync_handler, 21)
    assert result == {"key": "77", "double": 42}
    assert env.heartbeats[0]["thread"] != threading.current_thread().name


def test_run_sync_in_this_thread() -> None:
    env = HandlerEnvironment(job_id="5")
    assert env.run_sync(sync_handler, 1) == {"key": "5", "double": 2}
    with pytest.raises(TypeError):
        env.run_sync(async_handler, {})


async def test_cancel_reaches_an_async_handler() -> None:
    env = HandlerEnvironment()
    started = asyncio.Event()

    async def waits_forever(_: Any) -> None:
        started.set()
        await asyncio.Event().wait()

    run = asyncio.create_task(env.run(waits_forever))
    await started.wait()
    env.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run


async def test_cancel_reaches_a_sync_handler_at_its_next_heartbeat() -> None:
    env = HandlerEnvironment()
    beats = 0

    def loops(_: Any) -> None:
        nonlocal beats
        while True:
            beats += 1
            if beats == 3:
                env.cancel()  # as if a heartbeat answer said cancel_requested
            heartbeat({"beats": beats})
            time.sleep(0.001)

    with pytest.raises(HandlerCancelled):
        await env.run(loops)
    assert beats == 3


async def test_timeout_is_enforced() -> None:
    env = HandlerEnvironment(timeout_seconds=0.05)

    async def slow(_: Any) -> None:
        await asyncio.sleep(10)

    with pytest.raises(TimeoutError):
        await env.run(slow)


def test_context_functions_outside_a_handler_say_so() -> None:
    with pytest.raises(RuntimeError, match="not inside a job handler"):
        info()


def test_registries() -> None:
    handlers = Handlers()

    @handlers.register("a")
    def a(_: Any) -> None: ...

    @handler("b")
    async def b(_: Any) -> None: ...

    assert list(handlers) == ["a"]
    assert list(as_handlers([b])) == ["b"]
    assert list(as_handlers({"c": a})) == ["c"]
    assert as_handlers(handlers) is handlers
    with pytest.raises(ValueError, match="already has a handler"):
        handlers.add("a", a)
    with pytest.raises(TypeError, match="no job type"):
        as_handlers([a])

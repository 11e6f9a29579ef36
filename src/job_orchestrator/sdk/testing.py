"""Run a handler without a server, like Temporal's ``ActivityEnvironment``.

    env = HandlerEnvironment(heartbeat_details={"done": 3})
    result = await env.run(resize_image, {"url": "…"})
    assert env.heartbeats[-1] == {"done": 10}

Async handlers run as a task on the running loop, sync handlers in a thread, with a job
context set exactly as the worker sets it. ``cancel()`` simulates the server's cancel request.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from job_orchestrator.sdk.context import (
    JobContext,
    JobInfo,
    run_async_with_context,
    run_with_context,
)
from job_orchestrator.sdk.handlers import HandlerFunc, is_async


class HandlerEnvironment:
    def __init__(
        self,
        *,
        job_id: str = "1",
        attempt: int = 1,
        queue: str = "default",
        type: str = "test",
        timeout_seconds: float | None = None,
        lease_seconds: float = 30.0,
        heartbeat_details: Any = None,
        worker_id: str = "test-worker",
    ) -> None:
        deadline = (
            None
            if timeout_seconds is None
            else datetime.now(UTC) + timedelta(seconds=timeout_seconds)
        )
        self.info = JobInfo(
            job_id=job_id,
            attempt=attempt,
            queue=queue,
            type=type,
            deadline=deadline,
            timeout_seconds=timeout_seconds,
            lease_seconds=lease_seconds,
            heartbeat_details=heartbeat_details,
            worker_id=worker_id,
        )
        self.heartbeats: list[Any] = []  # the details of every heartbeat() call, in order
        self._lock = threading.Lock()
        self.context = JobContext(self.info, on_heartbeat=self._record)
        self._task: asyncio.Task[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _record(self, details: Any) -> None:
        with self._lock:
            self.heartbeats.append(details)

    @property
    def last_details(self) -> Any:
        """The details the worker would send with its next heartbeat."""
        return self.context.details()[1]

    def cancel(self, reason: str = "cancelled") -> None:
        """As if the server answered a heartbeat with ``cancel_requested``: an async handler
        gets ``CancelledError``; a sync one gets ``HandlerCancelled`` from its next heartbeat.
        Callable from any thread, e.g. from inside the handler under test."""
        self.context.cancel(reason)
        task, loop = self._task, self._loop
        if task is not None and loop is not None:
            loop.call_soon_threadsafe(task.cancel)

    async def run(self, function: HandlerFunc, payload: Any = None) -> Any:
        """Run the handler to its result; its exception (or the cancellation) propagates.
        A ``timeout_seconds`` is enforced as the worker does (``TimeoutError``)."""
        self._loop = asyncio.get_running_loop()
        if is_async(function):
            task = asyncio.create_task(run_async_with_context(self.context, function, payload))
            self._task = task
            work: asyncio.Future[Any] = task
        else:
            work = self._loop.run_in_executor(
                None,
                contextvars.copy_context().run,
                run_with_context,
                self.context,
                function,
                payload,
            )
        try:
            async with asyncio.timeout(self.info.timeout_seconds):
                return await work
        finally:
            self._task = None

    def run_sync(self, function: HandlerFunc, payload: Any = None) -> Any:
        """Run a sync handler in this thread (no event loop needed)."""
        if is_async(function):
            raise TypeError("run_sync takes a plain def handler; await env.run() for async ones")
        return contextvars.copy_context().run(run_with_context, self.context, function, payload)

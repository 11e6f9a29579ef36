"""Producer clients: ``Client`` (sync, httpx) and ``AsyncClient`` (async, aiohttp).

Both run the same call definitions (``_api``) and return the same typed models; errors are
the typed exceptions of ``errors``, each carrying the API's error code.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar, Unpack

from job_orchestrator.sdk import _api
from job_orchestrator.sdk._api import Call
from job_orchestrator.sdk._http import DEFAULT_TIMEOUT, AsyncTransport, SyncTransport
from job_orchestrator.sdk.errors import JobCancelled, JobFailed, WaitTimeout
from job_orchestrator.sdk.models import (
    Attempt,
    EnqueueOptions,
    Job,
    JobPage,
    JobSpec,
    JobState,
    Queue,
    RetryPolicy,
)

T = TypeVar("T")


def job_spec(
    type: str,
    payload: Any = None,
    *,
    queue: str | None = None,
    priority: int | None = None,
    run_at: datetime | None = None,
    delay_seconds: float | None = None,
    max_attempts: int | None = None,
    retry: RetryPolicy | None = None,
    lease_seconds: float | None = None,
    timeout_seconds: float | None = None,
    idempotency_key: str | None = None,
) -> JobSpec:
    return JobSpec(
        type=type,
        payload=payload,
        queue=queue,
        priority=priority,
        run_at=run_at,
        delay_seconds=delay_seconds,
        max_attempts=max_attempts,
        retry=retry,
        lease_seconds=lease_seconds,
        timeout_seconds=timeout_seconds,
        idempotency_key=idempotency_key,
    )


def outcome(job: Job) -> Any:
    """The result of a terminal job, or the typed error saying why there is none."""
    if job.state is JobState.SUCCEEDED:
        return job.result
    if job.state is JobState.DLQ:
        message = (job.last_error or {}).get("message") if isinstance(job.last_error, dict) else ""
        raise JobFailed(f"job {job.id} ended in the DLQ: {message or 'no message'}", job=job)
    raise JobCancelled(f"job {job.id} was cancelled", job=job)


def _wait_slice(deadline: float | None) -> float:
    if deadline is None:
        return _api.MAX_WAIT_SECONDS
    return min(_api.MAX_WAIT_SECONDS, max(deadline - time.monotonic(), 0.0))


class Client:
    """Synchronous producer client. ``url`` defaults to ``ORCHESTRATOR_URL``; ``api_key`` to
    ``ORCHESTRATOR_API_KEY``."""

    def __init__(
        self,
        url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._http = SyncTransport(url, api_key=api_key, timeout=timeout)
        self.url = self._http.url

    def _run(self, call: Call[T]) -> T:
        data = self._http.request(
            call.method, call.path, params=call.params, body=call.body, timeout=call.timeout
        )
        return call.parse(data)

    def enqueue(self, type: str, payload: Any = None, **options: Unpack[EnqueueOptions]) -> Job:
        """Enqueue one job; ``options`` are the contract's: queue, priority, run_at or
        delay_seconds, max_attempts, retry (a ``RetryPolicy``), lease_seconds,
        timeout_seconds, idempotency_key."""
        return self._run(_api.enqueue(job_spec(type, payload, **options)))

    def enqueue_many(self, specs: Iterable[JobSpec]) -> list[Job]:
        """Enqueue through the batch endpoint, 1000 per request (each request all or nothing)."""
        jobs: list[Job] = []
        for chunk in _api.chunks(specs):
            created: list[Job] = self._run(_api.enqueue_batch(chunk))
            jobs.extend(created)
        return jobs

    def get(self, job_id: str) -> Job:
        return self._run(_api.get(job_id))

    def wait(self, job_id: str, timeout: float | None = None) -> Any:
        """The job's result once it succeeds; ``JobFailed`` (DLQ), ``JobCancelled``, or
        ``WaitTimeout`` after ``timeout`` seconds (``None``: wait as long as it takes)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self._run(_api.get(job_id, wait_seconds=_wait_slice(deadline)))
            if job.state.terminal:
                return outcome(job)
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(f"job {job_id} is still {job.state.value} after {timeout} s")

    def list_jobs(
        self,
        *,
        queue: str | None = None,
        state: str | None = None,
        type: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JobPage:
        call = _api.list_jobs(queue=queue, state=state, type=type, limit=limit, cursor=cursor)
        return self._run(call)

    def attempts(self, job_id: str) -> list[Attempt]:
        return self._run(_api.attempts(job_id))

    def cancel(self, job_id: str) -> Job:
        return self._run(_api.cancel(job_id))

    def retry(self, job_id: str) -> Job:
        return self._run(_api.retry(job_id))

    def dlq(
        self,
        *,
        queue: str | None = None,
        type: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JobPage:
        return self._run(_api.dlq(queue=queue, type=type, limit=limit, cursor=cursor))

    def redrive(
        self, *, queue: str | None = None, type: str | None = None, limit: int | None = None
    ) -> int:
        """Move DLQ jobs (matching the filters) back to pending; the number moved."""
        return self._run(_api.redrive(queue=queue, type=type, limit=limit))

    # ---- v1.1: queues ---------------------------------------------------------------------
    def queues(self) -> list[Queue]:
        """Every queue that holds jobs or has settings: counts, oldest ready age, settings."""
        return self._run(_api.queues())

    def pause_queue(self, name: str) -> Queue:
        """A paused queue leases nothing; enqueues are accepted, leased jobs run on."""
        return self._run(_api.pause_queue(name))

    def resume_queue(self, name: str) -> Queue:
        return self._run(_api.resume_queue(name))

    def update_queue(self, name: str, **settings: Any) -> Queue:
        """Any of ``paused``, ``rate_limit_per_second``, ``concurrency_limit`` (None: no limit)."""
        return self._run(_api.put_queue(name, settings))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClient:
    """Asynchronous producer client (aiohttp); use ``async with`` or ``await close()``."""

    def __init__(
        self,
        url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._http = AsyncTransport(url, api_key=api_key, timeout=timeout)
        self.url = self._http.url

    async def _run(self, call: Call[T]) -> T:
        data = await self._http.request(
            call.method, call.path, params=call.params, body=call.body, timeout=call.timeout
        )
        return call.parse(data)

    async def enqueue(
        self, type: str, payload: Any = None, **options: Unpack[EnqueueOptions]
    ) -> Job:
        """See ``Client.enqueue``."""
        return await self._run(_api.enqueue(job_spec(type, payload, **options)))

    async def enqueue_many(self, specs: Iterable[JobSpec]) -> list[Job]:
        jobs: list[Job] = []
        for chunk in _api.chunks(specs):
            created: list[Job] = await self._run(_api.enqueue_batch(chunk))
            jobs.extend(created)
        return jobs

    async def get(self, job_id: str) -> Job:
        return await self._run(_api.get(job_id))

    async def wait(self, job_id: str, timeout: float | None = None) -> Any:  # noqa: ASYNC109
        """See ``Client.wait``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = await self._run(_api.get(job_id, wait_seconds=_wait_slice(deadline)))
            if job.state.terminal:
                return outcome(job)
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(f"job {job_id} is still {job.state.value} after {timeout} s")

    async def list_jobs(
        self,
        *,
        queue: str | None = None,
        state: str | None = None,
        type: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JobPage:
        call = _api.list_jobs(queue=queue, state=state, type=type, limit=limit, cursor=cursor)
        return await self._run(call)

    async def attempts(self, job_id: str) -> list[Attempt]:
        return await self._run(_api.attempts(job_id))

    async def cancel(self, job_id: str) -> Job:
        return await self._run(_api.cancel(job_id))

    async def retry(self, job_id: str) -> Job:
        return await self._run(_api.retry(job_id))

    async def dlq(
        self,
        *,
        queue: str | None = None,
        type: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JobPage:
        return await self._run(_api.dlq(queue=queue, type=type, limit=limit, cursor=cursor))

    async def redrive(
        self, *, queue: str | None = None, type: str | None = None, limit: int | None = None
    ) -> int:
        return await self._run(_api.redrive(queue=queue, type=type, limit=limit))

    # ---- v1.1: queues ---------------------------------------------------------------------
    async def queues(self) -> list[Queue]:
        return await self._run(_api.queues())

    async def pause_queue(self, name: str) -> Queue:
        return await self._run(_api.pause_queue(name))

    async def resume_queue(self, name: str) -> Queue:
        return await self._run(_api.resume_queue(name))

    async def update_queue(self, name: str, **settings: Any) -> Queue:
        return await self._run(_api.put_queue(name, settings))

    async def close(self) -> None:
        await self._http.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

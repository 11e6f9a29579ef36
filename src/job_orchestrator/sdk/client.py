"""Producer clients: ``Client`` (sync, httpx) and ``AsyncClient`` (async, aiohttp).

Both run the same call definitions (``_api``) and return the same typed models; errors are
the typed exceptions of ``errors``, each carrying the API's error code.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar, Unpack

from job_orchestrator.sdk import _api, _schedules
from job_orchestrator.sdk._api import Call
from job_orchestrator.sdk._http import DEFAULT_TIMEOUT, AsyncTransport, SyncTransport
from job_orchestrator.sdk.errors import APIError, JobCancelled, JobFailed, WaitTimeout
from job_orchestrator.sdk.models import (
    Attempt,
    EnqueueOptions,
    Job,
    JobPage,
    JobSpec,
    JobState,
    Queue,
    RetryPolicy,
    Schedule,
    ScheduleDiff,
    ScheduleSpec,
    WorkerStatus,
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


QUICK_READS_AT_ONCE = 16  # AsyncClient.wait_many's concurrent reads of the other jobs


class ManyWaits:
    """What ``wait_many`` knows of its jobs, and which one to long-poll next.

    The one to poll is the least advanced: a pending job before a leased one, then the one due
    last (latest ``run_at``, then the newest). Jobs usually finish in about that order, so
    when it ends the others have mostly ended too, and one quick read of each confirms it:
    about two reads per job in all, and a single long poll held at any time.
    """

    def __init__(self, job_ids: Iterable[str]) -> None:
        self._order = list(dict.fromkeys(str(job_id) for job_id in job_ids))
        self._latest: dict[str, Job] = {}

    def update(self, jobs: Iterable[Job]) -> None:
        for job in jobs:
            self._latest[job.id] = job

    def unfinished(self) -> list[str]:
        return [
            job_id
            for job_id in self._order
            if job_id not in self._latest or not self._latest[job_id].state.terminal
        ]

    def target(self) -> str | None:
        waiting = [self._latest[job_id] for job_id in self.unfinished()]
        if not waiting:
            return None
        least = max(
            waiting, key=lambda job: (job.state is JobState.PENDING, job.run_at, _rank(job))
        )
        return least.id

    def check_deadline(self, deadline: float | None, timeout: float | None) -> None:
        if deadline is not None and time.monotonic() >= deadline:
            unfinished = self.unfinished()
            raise WaitTimeout(
                f"{len(unfinished)} of {len(self._order)} jobs are still running after {timeout} s",
                details={"job_ids": unfinished},
            )

    def jobs(self) -> list[Job]:
        return [self._latest[job_id] for job_id in self._order]


def _rank(job: Job) -> tuple[int, str]:
    # Ids are decimal on this server; compare them as numbers, others as text.
    return (int(job.id), "") if job.id.isdigit() else (0, job.id)


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

    def wait_many(self, job_ids: Iterable[str], timeout: float | None = None) -> list[Job]:
        """Wait until every job is terminal; the jobs, in the order given (read ``result``,
        or ``state`` and ``last_error``; ``outcome(job)`` raises as ``wait`` does).
        ``WaitTimeout`` after ``timeout`` seconds, its ``details`` the ids still running.

        One long poll at a time, not one per job: on the job likely to finish last, then one
        quick read of the others when it ends (see ``ManyWaits``)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        waits = ManyWaits(job_ids)
        waits.update(self.get(job_id) for job_id in waits.unfinished())
        while target := waits.target():
            waits.check_deadline(deadline, timeout)
            job = self._run(_api.get(target, wait_seconds=_wait_slice(deadline)))
            waits.update([job])
            waits.update(self.get(job_id) for job_id in waits.unfinished() if job_id != target)
        return waits.jobs()

    def workers(
        self,
        *,
        queue: str | None = None,
        type: str | None = None,
        seen_within_seconds: float | None = None,
    ) -> list[WorkerStatus]:
        """The workers seen polling (default: in the last 5 minutes); with ``queue`` and
        ``type``, those whose lease requests would take such a job."""
        call = _api.workers(queue=queue, type=type, seen_within_seconds=seen_within_seconds)
        return self._run(call)

    # ---- schedules -----------------------------------------------------------------------------
    def put_schedule(self, spec: ScheduleSpec) -> Schedule:
        """Create or replace a schedule (the whole schedule: omitted fields take defaults)."""
        return self._run(_api.put_schedule(spec.name, spec.to_dict()))

    def get_schedule(self, name: str) -> Schedule:
        return self._run(_api.get_schedule(name))

    def list_schedules(self, *, page_size: int = _schedules.PAGE_SIZE) -> Iterator[Schedule]:
        """Every schedule, by name, following the cursor page by page."""
        cursor: str | None = None
        while True:
            page = self._run(_api.list_schedules(limit=page_size, cursor=cursor))
            yield from page.schedules
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def delete_schedule(self, name: str) -> None:
        """Delete it; the jobs it already enqueued are untouched."""
        self._run(_api.delete_schedule(name))

    def pause_schedule(self, name: str) -> Schedule:
        return self._run(_api.pause_schedule(name))

    def resume_schedule(self, name: str) -> Schedule:
        """Resume from the next fire time (the paused time is not caught up)."""
        return self._run(_api.resume_schedule(name))

    def trigger_schedule(self, name: str) -> Job:
        """Enqueue the schedule's job now, outside its fire times."""
        return self._run(_api.trigger_schedule(name))

    def apply_schedules(
        self, specs: Iterable[ScheduleSpec], *, prune: bool = False, dry_run: bool = False
    ) -> ScheduleDiff:
        """Create and update schedules to match ``specs``; ``prune`` deletes the others;
        ``dry_run`` only computes the difference."""
        todo = _schedules.plan(list(specs), self.list_schedules(), prune=prune)
        if not dry_run:
            for name, body in todo.puts:
                try:
                    self._run(_api.put_schedule(name, body))
                except APIError as error:
                    raise _schedules.naming(error, name) from error
            for name in todo.deletes:
                self._run(_api.delete_schedule(name))
        return todo.diff

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

    async def wait_many(
        self,
        job_ids: Iterable[str],
        timeout: float | None = None,  # noqa: ASYNC109 - the wait's own deadline
    ) -> list[Job]:
        """See ``Client.wait_many``; the quick reads go out concurrently."""
        deadline = None if timeout is None else time.monotonic() + timeout
        waits = ManyWaits(job_ids)
        limit = asyncio.Semaphore(QUICK_READS_AT_ONCE)

        async def read(job_id: str) -> Job:
            async with limit:
                return await self.get(job_id)

        waits.update(await asyncio.gather(*(read(job_id) for job_id in waits.unfinished())))
        while target := waits.target():
            waits.check_deadline(deadline, timeout)
            job = await self._run(_api.get(target, wait_seconds=_wait_slice(deadline)))
            waits.update([job])
            others = [job_id for job_id in waits.unfinished() if job_id != target]
            waits.update(await asyncio.gather(*(read(job_id) for job_id in others)))
        return waits.jobs()

    async def workers(
        self,
        *,
        queue: str | None = None,
        type: str | None = None,
        seen_within_seconds: float | None = None,
    ) -> list[WorkerStatus]:
        """See ``Client.workers``."""
        call = _api.workers(queue=queue, type=type, seen_within_seconds=seen_within_seconds)
        return await self._run(call)

    # ---- schedules -----------------------------------------------------------------------------
    async def put_schedule(self, spec: ScheduleSpec) -> Schedule:
        """See ``Client.put_schedule``."""
        return await self._run(_api.put_schedule(spec.name, spec.to_dict()))

    async def get_schedule(self, name: str) -> Schedule:
        return await self._run(_api.get_schedule(name))

    async def list_schedules(
        self, *, page_size: int = _schedules.PAGE_SIZE
    ) -> AsyncIterator[Schedule]:
        """Every schedule, by name, following the cursor page by page."""
        cursor: str | None = None
        while True:
            page = await self._run(_api.list_schedules(limit=page_size, cursor=cursor))
            for schedule in page.schedules:
                yield schedule
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def delete_schedule(self, name: str) -> None:
        await self._run(_api.delete_schedule(name))

    async def pause_schedule(self, name: str) -> Schedule:
        return await self._run(_api.pause_schedule(name))

    async def resume_schedule(self, name: str) -> Schedule:
        return await self._run(_api.resume_schedule(name))

    async def trigger_schedule(self, name: str) -> Job:
        return await self._run(_api.trigger_schedule(name))

    async def apply_schedules(
        self, specs: Iterable[ScheduleSpec], *, prune: bool = False, dry_run: bool = False
    ) -> ScheduleDiff:
        """See ``Client.apply_schedules``."""
        stored = [s async for s in self.list_schedules()]
        todo = _schedules.plan(list(specs), stored, prune=prune)
        if not dry_run:
            for name, body in todo.puts:
                try:
                    await self._run(_api.put_schedule(name, body))
                except APIError as error:
                    raise _schedules.naming(error, name) from error
            for name in todo.deletes:
                await self._run(_api.delete_schedule(name))
        return todo.diff

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

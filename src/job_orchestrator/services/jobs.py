"""The job service: one function per API call, on top of the store and the wake-up hub."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from job_orchestrator.domain.errors import DomainError
from job_orchestrator.domain.models import (
    JSON,
    WORKER_POLLING_SECONDS,
    Attempt,
    Completed,
    Completion,
    EnqueueResult,
    FailureInfo,
    Heartbeat,
    HeartbeatResult,
    Job,
    JobFilter,
    Lease,
    LeaseRequest,
    NewJob,
    Snooze,
    WorkerInfo,
)
from job_orchestrator.domain.states import TERMINAL_STATES, JobState
from job_orchestrator.services.coalescer import EnqueueCoalescer
from job_orchestrator.services.metrics import Metrics
from job_orchestrator.services.wakeups import (
    DEFAULT_FALLBACK_SECONDS,
    LeaseWaiter,
    WakeupHub,
    wait_for,
)
from job_orchestrator.store.base import Store

Disconnected = Callable[[], Awaitable[bool]]

log = logging.getLogger(__name__)

# A job wait (GET ?wait_seconds) also re-reads the job this often: completions made by another
# server process do not wake this one.
JOB_WAIT_POLL_SECONDS = 0.25
# At most once a minute per worker: the dashboard's shortest window is 5 minutes, and 200 idle
# workers noted every 5 s were most of what they cost the database.
WORKER_NOTE_SECONDS = 60.0


class JobService:
    def __init__(
        self,
        store: Store,
        *,
        hub: WakeupHub | None = None,
        metrics: Metrics | None = None,
        poll_interval: float = DEFAULT_FALLBACK_SECONDS,
        max_wait_seconds: float = 30.0,
    ) -> None:
        self.store = store
        # poll_interval: how long a group of waiting long polls goes without a look when
        # nothing is announced and nothing comes due (the fallback; see services/wakeups.py).
        self.hub = hub or WakeupHub(
            next_due=store.seconds_until_next_due, fallback_seconds=poll_interval
        )
        self.metrics = metrics or Metrics()
        self.poll_interval = poll_interval
        self.max_wait_seconds = max_wait_seconds
        self._workers_noted: dict[str, float] = {}
        self._coalescer = EnqueueCoalescer(self._insert_many)
        self._bookkeeping: set[asyncio.Task[None]] = set()

    # ---- producers --------------------------------------------------------------------------
    async def enqueue(self, job: NewJob) -> EnqueueResult:
        """One job; without an idempotency key it shares an INSERT with concurrent ones."""
        if job.idempotency_key is None:
            return await self._coalescer.enqueue(job)
        return (await self._insert_many([job]))[0]

    async def enqueue_many(self, jobs: Sequence[NewJob]) -> list[EnqueueResult]:
        """A batch request: its own INSERT, all or nothing."""
        return await self._insert_many(jobs)

    async def _insert_many(self, jobs: Sequence[NewJob]) -> list[EnqueueResult]:
        results = await self.store.enqueue_many(jobs)
        self.metrics.enqueued.inc(sum(1 for r in results if r.created))
        return results

    async def get(self, job_id: int, *, owner: str | None = None, wait_seconds: float = 0.0) -> Job:
        """The job (of ``owner`` only, if given: another's is JobNotFound)."""
        job = await self.store.get_job(job_id, owner=owner)
        wait_seconds = min(wait_seconds, self.max_wait_seconds)
        if wait_seconds <= 0 or job.state in TERMINAL_STATES:
            return job
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        while job.state not in TERMINAL_STATES and not self.hub.closing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            with self.hub.job_waiter(job_id) as changed:
                await wait_for(changed, min(remaining, JOB_WAIT_POLL_SECONDS))
            job = await self.store.get_job(job_id, owner=owner)
        return job

    async def list_jobs(self, filters: JobFilter) -> list[Job]:
        return await self.store.list_jobs(filters)

    async def attempts(self, job_id: int, *, owner: str | None = None) -> list[Attempt]:
        return await self.store.list_attempts(job_id, owner=owner)

    async def cancel(self, job_id: int, *, owner: str | None = None) -> Job:
        job = await self.store.cancel(job_id, owner=owner)
        self.hub.job_changed(job_id)
        return job

    async def retry(self, job_id: int) -> Job:
        job = await self.store.retry(job_id)
        self.hub.job_changed(job_id)
        return job

    async def redrive(self, *, queue: str | None, type_: str | None, limit: int) -> int:
        return await self.store.redrive(queue=queue, type_=type_, limit=limit)

    # ---- workers ----------------------------------------------------------------------------
    async def lease(
        self,
        request: LeaseRequest,
        *,
        wait_seconds: float = 0.0,
        disconnected: Disconnected | None = None,
    ) -> list[Lease]:
        """Claim ready jobs; with ``wait_seconds``, hold until some are ready or time is up.

        A waiting poll claims when it is woken (one waiter per group of interchangeable polls,
        see ``services/wakeups.py``), not on a timer of its own.
        """
        wait_seconds = min(wait_seconds, self.max_wait_seconds)
        if wait_seconds <= 0 or self.hub.closing:
            leases = await self.store.lease(request)
        else:
            leases = await self._lease_waiting(request, wait_seconds, disconnected)
        self._record_leases(leases)
        self._note_worker(request)
        return leases

    async def _lease_waiting(
        self, request: LeaseRequest, wait_seconds: float, disconnected: Disconnected | None
    ) -> list[Lease]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        with self.hub.lease_waiter(request.queues, request.types) as waiter:
            look = waiter.should_look_first()
            while True:
                if look:
                    leases = await self._look(waiter, request)
                    if leases:
                        return leases
                remaining = deadline - loop.time()
                if remaining <= 0 or self.hub.closing:
                    return []
                look = await waiter.wait(remaining)
                if self.hub.closing:
                    return []
                # A client that gave up must not be handed jobs it will never run.
                if look and disconnected is not None and await disconnected():
                    return []

    async def _look(self, waiter: LeaseWaiter, request: LeaseRequest) -> list[Lease]:
        epoch = waiter.begin_look()
        try:
            leases = await self.store.lease(request)
        except BaseException:
            waiter.abandon_look()
            raise
        waiter.end_look(epoch, got=len(leases), limit=request.max_jobs)
        return leases

    def _note_worker(self, request: LeaseRequest) -> None:
        """Remember who polls, for the dashboard; written at most every few seconds per worker,
        in the background: the lease answer used to wait for this write, a round trip that
        showed in the slowest pickups."""
        loop_now = asyncio.get_running_loop().time()
        if self._workers_noted.get(request.worker_id, -1e9) > loop_now - WORKER_NOTE_SECONDS:
            return
        if len(self._workers_noted) > 10_000:
            self._workers_noted.clear()
        self._workers_noted[request.worker_id] = loop_now
        write = self.store.record_worker_seen(
            request.worker_id, request.queues, types=request.types
        )
        task = asyncio.create_task(write, name="note-worker")
        self._bookkeeping.add(task)
        task.add_done_callback(self._bookkeeping_done)

    def _bookkeeping_done(self, task: asyncio.Task[None]) -> None:
        self._bookkeeping.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            # Best effort: the dashboard's worker list, not a job's state.
            log.debug("could not record a worker as seen: %s", error)

    async def close(self) -> None:
        """Let the background bookkeeping writes finish (server shutdown)."""
        if self._bookkeeping:
            await asyncio.wait(set(self._bookkeeping), timeout=5)

    def _record_leases(self, leases: list[Lease]) -> None:
        if not leases:
            return
        self.metrics.leased.inc(len(leases))
        for lease in leases:
            self.metrics.lease_wait.observe(
                max((lease.leased_at - lease.run_at).total_seconds(), 0.0)
            )

    async def heartbeat(
        self, job_id: int, lease_token: str, *, details: JSON, set_details: bool
    ) -> HeartbeatResult:
        return await self.store.heartbeat(
            job_id, lease_token, details=details, set_details=set_details
        )

    async def heartbeat_many(
        self, beats: Sequence[Heartbeat]
    ) -> list[HeartbeatResult | DomainError]:
        return await self.store.heartbeat_many(beats)

    async def complete_many(
        self, completions: Sequence[Completion], *, return_jobs: bool = True
    ) -> list[Job | Completed | DomainError]:
        outcomes = await self.store.complete_many(completions, return_jobs=return_jobs)
        newly = 0
        for item, outcome in zip(completions, outcomes, strict=True):
            if isinstance(outcome, Job | Completed):
                self.hub.job_changed(item.job_id)
                newly += 1
        self.metrics.succeeded.inc(newly)
        return outcomes

    async def fail(self, job_id: int, lease_token: str, failure: FailureInfo) -> Job:
        job = await self.store.fail(job_id, lease_token, failure)
        self.metrics.failed.inc()
        if job.state is JobState.DLQ:
            self.metrics.dead_lettered.inc()
        else:
            self.metrics.retried.inc()
        self.hub.job_changed(job_id)
        return job

    async def release_many(self, leases: Sequence[tuple[int, str]]) -> list[DomainError | None]:
        outcomes = await self.store.release_many(leases)
        for (job_id, _), outcome in zip(leases, outcomes, strict=True):
            if outcome is None:
                self.hub.job_changed(job_id)
        return outcomes

    # ---- operations -------------------------------------------------------------------------
    async def job_counts(self) -> list[tuple[str, str, int]]:
        counts = await self.store.counts_by_queue_state()
        self.metrics.set_job_counts(counts)
        return counts

    async def workers(self, *, seen_within_seconds: float = 300.0) -> list[WorkerInfo]:
        since = await self.store.db_now() - timedelta(seconds=seen_within_seconds)
        return await self.store.list_workers(since=since)

    async def workers_serving(
        self, queue: str, type_: str, *, seen_within_seconds: float = WORKER_POLLING_SECONDS
    ) -> list[WorkerInfo]:
        """The workers that recently asked for jobs of ``type_`` on ``queue`` (none: a job of
        that type waits for a worker that is not running, or whose handlers lack the type)."""
        recent = await self.workers(seen_within_seconds=seen_within_seconds)
        return [worker for worker in recent if worker.serves(queue, type_)]

    async def db_now(self) -> datetime:
        return await self.store.db_now()

    # ---- v1.1: snooze, retention ------------------------------------------------------------
    async def snooze(self, snooze: Snooze) -> Job:
        job = await self.store.snooze(snooze)
        self.hub.job_changed(snooze.job_id)
        return job

    async def deleted_total(self) -> int:
        """Jobs the cleaner deleted, all processes together (also kept for /metrics)."""
        total = await self.store.deleted_total()
        self.metrics.deleted_total = total
        return total

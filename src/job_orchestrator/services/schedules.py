"""Schedules: the calls of the API (ScheduleService) and the scheduler that fires them.

The scheduler runs in every server process; a leader lease row (name ``scheduler``) makes one
of them act, as the reaper does. Two acting at once would still enqueue one job per fire
time: the store locks the due schedules, advances them with a compare-and-set on
``next_fire_at``, and the idempotency key ``schedule:{name}:{T}`` is the last line of defence.

It sleeps until the earliest ``next_fire_at`` (capped, so a schedule created by another
process is seen within ``max_sleep``), not on a fixed tick that would add up to a tick of lag.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from job_orchestrator.domain.errors import StoreUnavailable
from job_orchestrator.domain.models import Job
from job_orchestrator.domain.schedules import (
    Schedule,
    ScheduleDefinition,
    SchedulerStep,
    new_job,
)
from job_orchestrator.services.jobs import JobService
from job_orchestrator.services.metrics import Metrics
from job_orchestrator.services.reaper import default_holder_id
from job_orchestrator.store.base import Store

log = logging.getLogger(__name__)

LEADER_NAME = "scheduler"


class ScheduleService:
    def __init__(self, store: Store, jobs: JobService, scheduler: Scheduler | None = None) -> None:
        self.store = store
        self.jobs = jobs
        self.scheduler = scheduler

    async def put(
        self, definition: ScheduleDefinition, *, now: datetime | None = None
    ) -> tuple[Schedule, bool]:
        schedule, created = await self.store.put_schedule(definition, now=now)
        self._wake_scheduler()
        return schedule, created

    async def get(self, name: str) -> Schedule:
        return await self.store.get_schedule(name)

    async def list(self, *, limit: int, after: str | None) -> list[Schedule]:
        return await self.store.list_schedules(limit=limit, after=after)

    async def delete(self, name: str) -> None:
        await self.store.delete_schedule(name)

    async def set_paused(self, name: str, paused: bool, *, now: datetime | None = None) -> Schedule:
        schedule = await self.store.set_schedule_paused(name, paused, now=now)
        self._wake_scheduler()
        return schedule

    async def trigger(self, name: str) -> Job:
        """A job now, outside the fire times: no key, scheduled_for null, last_job_id kept."""
        schedule = await self.store.get_schedule(name)
        result = await self.jobs.enqueue(new_job(schedule, scheduled_for=None))
        return result.job

    def _wake_scheduler(self) -> None:
        # A schedule whose first fire time is sooner than the scheduler's sleep.
        if self.scheduler is not None:
            self.scheduler.wake()


class Scheduler:
    def __init__(
        self,
        store: Store,
        *,
        holder_id: str | None = None,
        batch_size: int = 500,
        leader_ttl: float = 10.0,
        max_sleep: float = 1.0,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.holder_id = holder_id or default_holder_id()
        self.batch_size = batch_size
        self.leader_ttl = leader_ttl
        self.max_sleep = max_sleep
        self.metrics = metrics
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._in_outage = False

    async def run_once(self, *, now: datetime | None = None) -> SchedulerStep | None:
        """One round: None when another process leads, else what every due schedule gave."""
        if not await self.store.try_acquire_leadership(
            LEADER_NAME, self.holder_id, ttl_seconds=self.leader_ttl, now=now
        ):
            return None
        total = SchedulerStep()
        while True:
            step = await self.store.run_due_schedules(batch_size=self.batch_size, now=now)
            total = SchedulerStep(
                enqueued=total.enqueued + step.enqueued,
                skipped=total.skipped + step.skipped,
                schedules=total.schedules + step.schedules,
                now=step.now,
                earliest_next_fire_at=step.earliest_next_fire_at,
                job_ids=total.job_ids + step.job_ids,
            )
            if step.schedules < self.batch_size:
                break
        if self.metrics is not None and total.enqueued:
            self.metrics.enqueued.inc(total.enqueued)
        return total

    def sleep_after(self, step: SchedulerStep | None) -> float:
        """Seconds until the earliest fire time, capped at ``max_sleep``."""
        if step is None or step.now is None or step.earliest_next_fire_at is None:
            return self.max_sleep
        until = (step.earliest_next_fire_at - step.now).total_seconds()
        return min(max(until, 0.0), self.max_sleep)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Fire schedules until ``stop()``; database outages are waited out."""
        while not self._stopping.is_set():
            delay = self.max_sleep
            self._wake.clear()  # a wake-up from here on is for the sleep below
            try:
                delay = self.sleep_after(await self.run_once())
                if self._in_outage:
                    log.info("scheduler: the database is back")
                self._in_outage = False
            except StoreUnavailable as error:
                if not self._in_outage:
                    log.warning("scheduler: %s; will retry", error.message)
                self._in_outage = True
            except Exception:  # never let the loop die: log and carry on next round
                log.exception("scheduler round failed")
            await self._sleep(delay)

    async def _sleep(self, delay: float) -> None:
        if delay <= 0:
            await asyncio.sleep(0)  # let the server breathe between full batches
            return
        wake = asyncio.ensure_future(self._wake.wait())
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({wake, stop}, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            wake.cancel()
            stop.cancel()

    async def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(StoreUnavailable):  # the lease row expires by itself
            await self.store.release_leadership(LEADER_NAME, self.holder_id)

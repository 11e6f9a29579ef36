"""What the web dashboard shows, assembled from the store's read models.

Reads only: actions (cancel, retry, redrive) go through ``JobService`` like the API's do.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from job_orchestrator.domain.models import WorkerInfo
from job_orchestrator.domain.states import JobState
from job_orchestrator.services.jobs import JobService
from job_orchestrator.services.queues import QueueService
from job_orchestrator.store.dashboard import (
    THROUGHPUT_WINDOW_SECONDS,
    DashboardReader,
    JobSummary,
    MinuteCount,
)

# Re-exported: the pages build searches without reaching into the store.
from job_orchestrator.store.dashboard import JobSearch as JobSearch

# Several browsers refreshing the overview share one set of queries per this many seconds.
OVERVIEW_CACHE_SECONDS = 2.0
STATE_ORDER = (
    JobState.PENDING,
    JobState.LEASED,
    JobState.SUCCEEDED,
    JobState.DLQ,
    JobState.CANCELLED,
)


@dataclass(frozen=True, slots=True)
class QueueOverview:
    queue: str
    counts: dict[str, int]
    oldest_pending_seconds: float | None
    succeeded_last_hour: int
    failed_last_hour: int

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def dlq(self) -> int:
        return self.counts.get(JobState.DLQ.value, 0)

    @property
    def failure_rate(self) -> float | None:
        ended = self.succeeded_last_hour + self.failed_last_hour
        return None if ended == 0 else self.failed_last_hour / ended


@dataclass(frozen=True, slots=True)
class Throughput:
    """Per-minute series over the window: index i is minute ``first_minute + i``."""

    first_minute: int
    labels: list[str]
    by_queue: dict[str, tuple[list[int], list[int]]]  # queue -> (succeeded, failed)

    def as_json(self) -> dict[str, object]:
        total_ok = [0] * len(self.labels)
        total_failed = [0] * len(self.labels)
        for ok, failed in self.by_queue.values():
            total_ok = [a + b for a, b in zip(total_ok, ok, strict=True)]
            total_failed = [a + b for a, b in zip(total_failed, failed, strict=True)]
        series = {q: {"succeeded": ok, "failed": f} for q, (ok, f) in self.by_queue.items()}
        return {
            "labels": self.labels,
            "series": {"": {"succeeded": total_ok, "failed": total_failed}, **series},
        }


@dataclass(frozen=True, slots=True)
class Overview:
    now: datetime
    queues: list[QueueOverview]
    throughput: Throughput
    totals: dict[str, int] = field(default_factory=dict)
    # v1.1: paused queues, and the cleaner (jobs deleted by any process; retention periods).
    paused: frozenset[str] = frozenset()
    deleted_total: int = 0
    retention: dict[str, str] = field(default_factory=dict)


def build_throughput(rows: list[MinuteCount], now: datetime, window_seconds: int) -> Throughput:
    minutes = window_seconds // 60
    last = int(now.timestamp() // 60)
    first = last - minutes + 1
    labels = [
        datetime.fromtimestamp((first + i) * 60, now.tzinfo).strftime("%H:%M")
        for i in range(minutes)
    ]
    by_queue: dict[str, tuple[list[int], list[int]]] = {}
    for row in rows:
        index = row.minute - first
        if not 0 <= index < minutes:
            continue
        ok, failed = by_queue.setdefault(row.queue, ([0] * minutes, [0] * minutes))
        ok[index] += row.succeeded
        failed[index] += row.failed
    return Throughput(first_minute=first, labels=labels, by_queue=by_queue)


class DashboardService:
    def __init__(
        self,
        jobs: JobService,
        reader: DashboardReader,
        *,
        queues: QueueService | None = None,
        retention: dict[str, str] | None = None,
    ) -> None:
        self.jobs = jobs
        self.reader = reader
        self.queues = queues
        self.retention = retention or {}
        self._overview: tuple[float, Overview] | None = None
        self._lock = asyncio.Lock()

    async def overview(self) -> Overview:
        async with self._lock:
            cached = self._overview
            if cached is not None and cached[0] > time.monotonic():
                return cached[1]
            overview = await self._build_overview()
            self._overview = (time.monotonic() + OVERVIEW_CACHE_SECONDS, overview)
            return overview

    async def _build_overview(self) -> Overview:
        now = await self.reader.db_now()
        counts = await self.jobs.job_counts()
        ages = await self.reader.oldest_pending_age()
        rows = await self.reader.throughput(window_seconds=THROUGHPUT_WINDOW_SECONDS)
        throughput = build_throughput(rows, now, THROUGHPUT_WINDOW_SECONDS)
        by_queue: dict[str, dict[str, int]] = {}
        totals = {state.value: 0 for state in STATE_ORDER}
        for queue, state, n in counts:
            by_queue.setdefault(queue, {s.value: 0 for s in STATE_ORDER})[state] = n
            totals[state] = totals.get(state, 0) + n
        for queue in throughput.by_queue:
            by_queue.setdefault(queue, {s.value: 0 for s in STATE_ORDER})
        paused = await self._paused_queues()
        for queue in paused:  # a paused queue shows (to be resumed) even with no jobs
            by_queue.setdefault(queue, {s.value: 0 for s in STATE_ORDER})
        queues = [
            QueueOverview(
                queue=queue,
                counts=state_counts,
                oldest_pending_seconds=ages.get(queue),
                succeeded_last_hour=sum(throughput.by_queue.get(queue, ([], []))[0]),
                failed_last_hour=sum(throughput.by_queue.get(queue, ([], []))[1]),
            )
            for queue, state_counts in sorted(by_queue.items())
        ]
        return Overview(
            now=now,
            queues=queues,
            throughput=throughput,
            totals=totals,
            paused=paused,
            deleted_total=await self.jobs.deleted_total(),
            retention=self.retention,
        )

    async def _paused_queues(self) -> frozenset[str]:
        if self.queues is None:
            return frozenset()
        return frozenset(q.settings.name for q in await self.queues.list() if q.settings.paused)

    async def set_paused(self, queue: str, paused: bool) -> None:
        """Pause or resume a queue (admin, from the overview)."""
        assert self.queues is not None
        if paused:
            await self.queues.pause(queue)
        else:
            await self.queues.resume(queue)
        self._overview = None

    async def queue_names(self) -> list[str]:
        return [q.queue for q in (await self.overview()).queues]

    async def jobs_page(self, search: JobSearch) -> list[JobSummary]:
        return await self.reader.jobs(search)

    async def workers(self, *, seen_within_seconds: float) -> list[WorkerInfo]:
        return await self.jobs.workers(seen_within_seconds=seen_within_seconds)

    async def redrive_all(
        self, *, queue: str | None, type_: str | None, batch: int = 1000, limit: int = 100_000
    ) -> int:
        """Redrive every dead job matching the filter (up to ``limit``), in batches."""
        total = 0
        while total < limit:
            moved = await self.jobs.redrive(
                queue=queue, type_=type_, limit=min(batch, limit - total)
            )
            total += moved
            if moved == 0:
                break
        self._overview = None
        return total

    def forget_overview(self) -> None:
        self._overview = None

    async def db_now(self) -> datetime:
        return await self.reader.db_now()


def ago(seconds: float | None) -> str:
    """``3 s``, ``4 min``, ``2 h 5 min``, ``3 d``."""
    if seconds is None:
        return "\u2013"  # en dash
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min"
    if seconds < 86400:
        return f"{seconds // 3600:.0f} h {(seconds % 3600) // 60:.0f} min"
    return f"{seconds // 86400:.0f} d"


def since(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else (now - then) / timedelta(seconds=1)

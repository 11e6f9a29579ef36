"""Measurement framework shared by every system in the benchmark.

A system (a peer queue, the raw SQL floor, or job-orchestrator itself) is a
`SystemUnderTest`. It implements a few small hooks (enqueue, start workers,
purge, analyze); this module turns them into the measured phases of issue 7:

1. single enqueue: `single_jobs` jobs from `producers` concurrent producers;
2. batch enqueue: `jobs` jobs in batches of `batch_size` (workers stopped);
   then ANALYZE, so every system starts with fresh planner statistics;
3. processing: `workers` concurrent workers start on the `jobs` queued jobs,
   timed from the first lease to the last completion, with CPU from /proc;
4. pickup latency: `pickup_jobs` jobs enqueued one at a time `pickup_interval`
   apart into the now idle workers.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.cpu import CpuSampler
from bench.processes import WorkerProcesses
from bench.stats import (
    PICKUP_SEQ_BASE,
    ProbeReceiver,
    ProcessRun,
    is_pickup_seq,
    is_throughput_seq,
    percentile,
)

REDIS_URL_BASE = "redis://127.0.0.1:6379"


# ---------------------------------------------------------------- workload


@dataclass(frozen=True)
class Workload:
    jobs: int = 20_000
    single_jobs: int = 2_000
    producers: int = 20
    workers: int = 20
    batch_size: int = 1_000
    pickup_jobs: int = 200
    pickup_interval: float = 0.020

    @property
    def process_timeout(self) -> float:
        # Generous (50 jobs/s floor) but bounded, so a stuck peer cannot hang the run.
        return max(60.0, self.jobs / 50)


# ---------------------------------------------------------------- results


@dataclass
class SystemResult:
    name: str
    config: dict[str, Any]
    skipped: str | None = None
    enqueue_batch_jobs_per_s: float | None = None
    enqueue_single_jobs_per_s: float | None = None
    process_jobs_per_s: float | None = None
    pickup_p50_ms: float | None = None
    pickup_p99_ms: float | None = None
    cpu_s_per_1k_jobs: float | None = None
    # Seconds since the first lease of each completion, for the PNG curve.
    curve: list[float] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "enqueue_batch_jobs_per_s": _round(self.enqueue_batch_jobs_per_s),
            "enqueue_single_jobs_per_s": _round(self.enqueue_single_jobs_per_s),
            "process_jobs_per_s": _round(self.process_jobs_per_s),
            "pickup_p50_ms": _round(self.pickup_p50_ms, 2),
            "pickup_p99_ms": _round(self.pickup_p99_ms, 2),
            "cpu_s_per_1k_jobs": _round(self.cpu_s_per_1k_jobs, 3),
            "config": self.config,
            "skipped": self.skipped,
            "details": self.details,
        }


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


async def poll_until(check: Callable[[], Awaitable[bool]], seconds: float) -> bool:
    """Await check() every 50 ms until it is true or `seconds` pass (bounded)."""
    for _ in range(max(1, int(seconds / 0.05))):
        if await check():
            return True
        await asyncio.sleep(0.05)
    return await check()


def package_version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


# ---------------------------------------------------------------- the system ABC


ProgressFn = Callable[[str, int, int], None]


def _no_progress(_phase: str, _done: int, _total: int) -> None:
    return None


class SystemUnderTest(abc.ABC):
    """One job system on the common workload.

    Subclasses implement the hooks below; the phase methods (`enqueue_batch`,
    `enqueue_single`, `process`, `pickup_latency`) are built on them and may be
    overridden when a system needs something else.
    """

    name: str = "system"
    #: PostgreSQL database whose backends count as this system's CPU (or None).
    pg_database: str | None = None

    def __init__(self, workload: Workload) -> None:
        self.workload = workload
        self.probe: ProbeReceiver | None = None
        self.sampler: CpuSampler | None = None
        self.workers = WorkerProcesses(self.name)
        self.progress: ProgressFn = _no_progress

    # -- hooks ---------------------------------------------------------------

    @abc.abstractmethod
    def config(self) -> dict[str, Any]:
        """The configuration printed with the results."""

    async def unavailable_reason(self) -> str | None:
        """Why this system cannot run here (missing package, broker down), or None."""
        return None

    @abc.abstractmethod
    async def setup(self) -> None:
        """Create a fresh database/broker namespace and install the schema."""

    @abc.abstractmethod
    async def teardown(self) -> None:
        """Drop what setup created; must tolerate a half-done setup."""

    @abc.abstractmethod
    async def enqueue_many(self, seqs: Sequence[int]) -> None:
        """Enqueue one batch of no-op jobs (one call of the system's batch API)."""

    @abc.abstractmethod
    async def enqueue_one(self, seq: int) -> None:
        """Enqueue one no-op job; called from many coroutines at once."""

    async def open_producers(self, producers: int) -> None:  # noqa: B027
        """Prepare `producers` concurrent producer connections (optional)."""

    async def close_producers(self) -> None:  # noqa: B027
        """Release what open_producers made (optional)."""

    @abc.abstractmethod
    async def purge(self) -> None:
        """Remove every queued job (between the enqueue phases)."""

    async def analyze(self) -> None:  # noqa: B027
        """Refresh planner statistics after seeding (PostgreSQL systems)."""

    @abc.abstractmethod
    def start_workers(self, workers: int, probe_addr: str) -> None:
        """Start worker subprocesses with `workers` concurrent job slots."""

    def extra_cpu_pids(self) -> set[int]:
        """Processes outside the worker trees and PostgreSQL to count (brokers)."""
        return set()

    async def recorded_completions(self, n: int, within: float) -> list[float] | None:
        """Completion times as the system recorded them, if it records any."""
        return None

    # -- phases --------------------------------------------------------------

    async def enqueue_batch(self, n: int) -> float:
        """Seconds to enqueue n jobs through the batch API."""
        step = self.workload.batch_size
        start = time.perf_counter()
        for lo in range(0, n, step):
            await self.enqueue_many(range(lo, min(n, lo + step)))
            self.progress("enqueue batch", min(n, lo + step), n)
        return time.perf_counter() - start

    async def enqueue_single(self, n: int, producers: int) -> float:
        """Seconds to enqueue n jobs one per call from `producers` concurrent producers."""
        await self.open_producers(producers)
        counter = iter(range(n))
        done = 0

        async def producer() -> None:
            nonlocal done
            for seq in counter:  # a shared iterator: producers take the next seq
                await self.enqueue_one(seq)
                done += 1
                if done % 100 == 0:
                    self.progress("enqueue single", done, n)

        try:
            start = time.perf_counter()
            await asyncio.gather(*(producer() for _ in range(producers)))
            return time.perf_counter() - start
        finally:
            await self.close_producers()

    async def process(self, n: int, workers: int) -> ProcessRun:
        """Start the workers on the n queued jobs; time first lease to last completion."""
        assert self.probe is not None and self.sampler is not None
        self.start_workers(workers, self.probe.address)
        self.sampler.add_roots(self.workers.pids)
        deadline = time.monotonic() + self.workload.process_timeout
        seen = 0
        while time.monotonic() < deadline:
            seen = self.probe.count(is_throughput_seq)
            self.progress("process", seen, n)
            if seen >= n:
                break
            if dead := self.workers.dead():
                raise RuntimeError(f"{self.name} workers died: {dead}")
            await asyncio.sleep(0.05)
        ran = self.probe.times(is_throughput_seq)
        if not ran:
            raise RuntimeError(f"{self.name}: no job ran within {self.workload.process_timeout}s")
        recorded = await self.recorded_completions(n, within=10.0)
        completions = recorded if recorded else list(ran.values())
        return ProcessRun(min(ran.values()), completions, complete=seen >= n)

    async def pickup_latency(self, n: int, interval: float) -> list[float]:
        """Latency (s) from each enqueue call to the job starting in an idle worker."""
        assert self.probe is not None
        await self.open_producers(1)
        sent: dict[int, float] = {}
        try:
            start = time.monotonic()
            for i in range(n):
                seq = PICKUP_SEQ_BASE + i
                sent[seq] = time.time()
                await self.enqueue_one(seq)
                self.progress("pickup", i + 1, n)
                await asyncio.sleep(max(0.0, start + (i + 1) * interval - time.monotonic()))
        finally:
            await self.close_producers()
        probe = self.probe

        async def all_seen() -> bool:
            return probe.count(is_pickup_seq) >= n

        await poll_until(all_seen, 15)
        got = self.probe.times(is_pickup_seq)
        return [got[s] - t for s, t in sent.items() if s in got]


# ---------------------------------------------------------------- the driver


async def run_system(sut: SystemUnderTest, progress: ProgressFn | None = None) -> SystemResult:
    """Run every phase for one system; any failure is reported, never raised."""
    result = SystemResult(name=sut.name, config=sut.config())
    if reason := await sut.unavailable_reason():
        result.skipped = reason
        return result
    sut.progress = progress or _no_progress
    sut.probe = ProbeReceiver()
    sut.probe.start()
    sut.sampler = CpuSampler(pg_database=sut.pg_database)
    try:
        await _run_phases(sut, result)
    except Exception as exc:  # a peer failing must not take the others down
        result.skipped = f"failed: {exc.__class__.__name__}: {exc}"
    finally:
        sut.workers.stop()
        sut.sampler.stop()
        sut.probe.stop()
        with contextlib.suppress(Exception):
            await sut.teardown()
    return result


async def _run_phases(sut: SystemUnderTest, result: SystemResult) -> None:
    w = sut.workload
    assert sut.sampler is not None
    await sut.setup()
    sut.sampler.extra_pids = sut.extra_cpu_pids()
    sut.sampler.start()

    seconds = await sut.enqueue_single(w.single_jobs, w.producers)
    result.enqueue_single_jobs_per_s = w.single_jobs / seconds
    await sut.purge()

    t0 = time.time()
    seconds = await sut.enqueue_batch(w.jobs)
    result.enqueue_batch_jobs_per_s = w.jobs / seconds
    result.details["cpu_s_per_1k_jobs_enqueue_batch_server_side"] = round(
        sut.sampler.cpu_between(t0, time.time()) * 1000 / w.jobs, 3
    )
    await sut.analyze()

    run = await sut.process(w.jobs, w.workers)
    _record_process(sut, result, run)

    latencies = await sut.pickup_latency(w.pickup_jobs, w.pickup_interval)
    if latencies:
        result.pickup_p50_ms = percentile(latencies, 50) * 1000
        result.pickup_p99_ms = percentile(latencies, 99) * 1000
    result.details["pickup_jobs_seen"] = len(latencies)


def _record_process(sut: SystemUnderTest, result: SystemResult, run: ProcessRun) -> None:
    assert sut.sampler is not None and sut.probe is not None
    n = len(run.completions)
    result.process_jobs_per_s = n / run.seconds
    cpu = sut.sampler.cpu_between(run.first_lease, run.last_completion)
    result.cpu_s_per_1k_jobs = cpu * 1000 / n
    result.curve = sorted(t - run.first_lease for t in run.completions)
    result.details.update(
        process_seconds=round(run.seconds, 3),
        process_jobs_completed=n,
        process_complete=run.complete,
        process_cpu_seconds=round(cpu, 3),
        process_cpu_seconds_by_part=sut.sampler.parts_between(run.first_lease, run.last_completion),
        duplicate_executions=sut.probe.duplicates,
        cpu_cores_busy=round(cpu / run.seconds, 2),
        # CPU used by everything else on the (shared) machine meanwhile: noise.
        other_load_cores_busy=round(
            (sut.sampler.cpu_between(run.first_lease, run.last_completion, "machine") - cpu)
            / run.seconds,
            2,
        ),
    )

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
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.cpu import CpuSampler

REPO_ROOT = Path(__file__).resolve().parent.parent
PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USER = "postgres"
REDIS_URL_BASE = "redis://127.0.0.1:6379"
# Pickup jobs are numbered from here so they never mix with throughput jobs.
PICKUP_SEQ_BASE = 10_000_000


def pg_dsn(database: str) -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


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


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank-with-interpolation percentile, q in [0, 100]."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass
class ProcessRun:
    """What the processing phase observed."""

    first_lease: float
    completions: list[float]  # unix times, system-recorded where available
    complete: bool

    @property
    def last_completion(self) -> float:
        return max(self.completions)

    @property
    def seconds(self) -> float:
        return max(self.last_completion - self.first_lease, 1e-9)


# ---------------------------------------------------------------- probe receiver


class ProbeReceiver:
    """Collects the datagrams sent by `bench.probe.report` from the tasks."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # Bursts of ~10k datagrams/s must not overflow the socket buffer while
        # the harness is busy; SO_RCVBUFFORCE lifts rmem_max when we are root.
        for opt in (getattr(socket, "SO_RCVBUFFORCE", 33), socket.SO_RCVBUF):
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.SOL_SOCKET, opt, 64 * 1024 * 1024)
                break
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.events: dict[int, float] = {}
        self.duplicates = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="probe", daemon=True)

    @property
    def address(self) -> str:
        host, port = self.sock.getsockname()
        return f"{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(128)
            except (TimeoutError, OSError):
                continue
            seq_raw, t_raw = data.decode().split()
            with self._lock:
                seq = int(seq_raw)
                if seq in self.events:
                    self.duplicates += 1  # at-least-once systems may rerun a job
                else:
                    self.events[seq] = float(t_raw)

    def count(self, predicate: Callable[[int], bool]) -> int:
        with self._lock:
            return sum(1 for seq in self.events if predicate(seq))

    def times(self, predicate: Callable[[int], bool]) -> dict[int, float]:
        with self._lock:
            return {s: t for s, t in self.events.items() if predicate(s)}


def is_throughput_seq(seq: int) -> bool:
    return seq < PICKUP_SEQ_BASE


def is_pickup_seq(seq: int) -> bool:
    return seq >= PICKUP_SEQ_BASE


# ---------------------------------------------------------------- subprocesses


@dataclass
class WorkerProcesses:
    """Worker subprocesses started by the harness (each in its own session)."""

    name: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    log_dir: Path = REPO_ROOT / "bench-results" / "logs"

    def spawn(self, argv: list[str], env: dict[str, str] | None = None) -> int:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{self.name}-{len(self.procs)}.log"
        full_env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})}
        with log.open("wb") as fh:
            proc = subprocess.Popen(
                argv,
                cwd=REPO_ROOT,
                env=full_env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # so stop() can signal its whole group
            )
        self.procs.append(proc)
        return proc.pid

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def dead(self) -> list[str]:
        return [f"pid {p.pid} exited {p.returncode}" for p in self.procs if p.poll() is not None]

    def stop(self, grace: float = 10.0) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        self.procs.clear()


def bench_python() -> str:
    """The interpreter of the benchmark environment (the one running us)."""
    return sys.executable


# ---------------------------------------------------------------- PostgreSQL


async def pg_unreachable_reason() -> str | None:
    """None when PostgreSQL answers on 127.0.0.1:5432, else why not."""
    try:
        import asyncpg
    except ImportError:
        return "asyncpg is not installed in this environment"
    try:
        conn = await asyncpg.connect(pg_dsn("postgres"), timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        return f"PostgreSQL not reachable at {PG_HOST}:{PG_PORT} ({exc.__class__.__name__})"
    await conn.close()
    return None


async def recreate_database(name: str) -> None:
    """Drop and create `name`, so each run starts from an empty database."""
    import asyncpg

    conn = await asyncpg.connect(pg_dsn("postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(pg_dsn("postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def pg_execute(database: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(pg_dsn(database))
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


async def pg_fetch_floats(database: str, sql: str) -> list[float]:
    import asyncpg

    conn = await asyncpg.connect(pg_dsn(database))
    try:
        return [float(r[0]) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


async def pg_fetch_int(database: str, sql: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(pg_dsn(database))
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def poll_until(check: Callable[[], Awaitable[bool]], seconds: float) -> bool:
    """Await check() every 50 ms until it is true or `seconds` pass (bounded)."""
    for _ in range(max(1, int(seconds / 0.05))):
        if await check():
            return True
        await asyncio.sleep(0.05)
    return await check()


async def wait_for_count(database: str, sql: str, n: int, seconds: float) -> bool:
    """Wait until a count query reaches n; False if it did not within `seconds`."""

    async def reached() -> bool:
        return await pg_fetch_int(database, sql) >= n

    return await poll_until(reached, seconds)


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

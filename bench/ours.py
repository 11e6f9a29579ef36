"""job-orchestrator itself, next to the peers: the real server, the real SDK, the full path.

- The server is the product's server command, started by the project's one launcher
  (`.venv/bin/python -m job_orchestrator.cli.server_entry --database-url URL --port P
  --workers N --log-level warning --migrate`), on PostgreSQL (`bench_ours`, recreated and
  dropped) or on a temporary SQLite file.
- Workers are `python -m bench.ours_worker` processes under the product's .venv: the SDK
  `Worker` with an async no-op handler calling `bench.probe.report(seq)`. Every job is leased
  (attempt row), covered by the SDK's heartbeat machinery, completed through the guarded
  batch completion (completion record). Nothing in the product knows it is benchmarked.
- "W concurrent workers" means W handler slots in total: `processes x concurrency`, printed
  in the config (e.g. 2 procs x 10 slots for W=20).
- Producers are the SDK's `AsyncClient` in the harness: `enqueue_many` (1,000 per
  `POST /v1/jobs/batch`) and `enqueue` (`POST /v1/jobs`), 20 producers sharing its pool.
- CPU: the server process tree (its own "server" part), the worker trees, and the backends
  of `bench_ours` plus PostgreSQL's shared auxiliary processes.
- Completion times are the ones the server recorded (`job_completions.completed_at`).
- `preload`: before the measured phases, N finished jobs (job row, attempt row, completion
  record, as the server writes them) are inserted in another queue by SQL, then VACUUM
  ANALYZE, to show the lease path does not slow down as history grows.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bench.common import SystemUnderTest, Workload, poll_until
from bench.postgres import (
    drop_database,
    pg_dsn,
    pg_execute,
    pg_fetch_floats,
    pg_unreachable_reason,
    recreate_database,
    wait_for_count,
)
from bench.processes import REPO_ROOT, launcher
from job_orchestrator.verify.launcher import ServerProcess

if TYPE_CHECKING:
    from job_orchestrator.sdk import AsyncClient

NAME = "job-orchestrator"
DATABASE = "bench_ours"
QUEUE = "bench"
HISTORY_QUEUE = "history"
JOB_TYPE = "noop"
PRODUCT_BIN = REPO_ROOT / ".venv" / "bin"
#: Handler slots per worker process unless told otherwise (the headline topology).
DEFAULT_SLOTS_PER_PROCESS = 10
#: The SDK's prefetch per worker process (jobs leased ahead of free slots): docs/sdk.md's
#: setting for many very short jobs, so one lease call can fill a 100-job batch.
DEFAULT_PREFETCH = 90


def split_slots(slots: int, per_process: int) -> list[int]:
    """`slots` handler slots over as few processes of at most `per_process` as possible, evenly."""
    processes = max(1, math.ceil(slots / max(1, per_process)))
    base, extra = divmod(slots, processes)
    return [base + (1 if i < extra else 0) for i in range(processes)]


def topology(slots: int, per_process: int) -> str:
    sizes = split_slots(slots, per_process)
    if len(set(sizes)) == 1:
        return f"{len(sizes)} procs x {sizes[0]} slots"
    return f"{len(sizes)} procs ({'+'.join(map(str, sizes))} slots)"


def config(
    workload: Workload,
    backend: str,
    *,
    servers: int = 1,
    slots_per_process: int = DEFAULT_SLOTS_PER_PROCESS,
    prefetch: int = DEFAULT_PREFETCH,
    preload: int = 0,
) -> dict[str, Any]:
    topo = topology(workload.workers, slots_per_process)
    summary = f"{backend}, {servers} API proc, {topo}"
    if prefetch:
        summary += f", prefetch {prefetch}"
    if preload:
        summary += f", {preload:,} finished jobs preloaded"
    return {
        "summary": summary,
        "backend": backend,
        "api_server_processes": servers,
        "worker_processes": len(split_slots(workload.workers, slots_per_process)),
        "worker_slots": workload.workers,
        "worker_topology": topo,
        "worker_prefetch": prefetch,
        "worker": "SDK Worker (uvloop, aiohttp), async no-op handler, SDK defaults "
        "(batched completions, batched heartbeats, long poll 10 s) but prefetch",
        "producer": "SDK AsyncClient: enqueue_many (1,000 per POST /v1/jobs/batch), "
        "enqueue (POST /v1/jobs)",
        "preloaded_finished_jobs": preload,
    }


class OursSystem(SystemUnderTest):
    name = NAME

    def __init__(
        self,
        workload: Workload,
        backend: str,
        *,
        servers: int = 1,
        slots_per_process: int = DEFAULT_SLOTS_PER_PROCESS,
        prefetch: int = DEFAULT_PREFETCH,
        preload: int = 0,
        label: str | None = None,
        worker_args: Sequence[str] = (),
    ) -> None:
        self.name = label or NAME
        super().__init__(workload)
        self.backend = backend
        self.servers = servers
        self.slots_per_process = slots_per_process
        self.prefetch = prefetch
        self.preload = preload
        self.worker_args = list(worker_args)
        self.pg_database = DATABASE if backend == "postgres" else None
        self.server: ServerProcess | None = None
        self.port = 0
        self.url = ""
        self.client: AsyncClient | None = None
        self._tmpdir: str | None = None
        self.preload_seconds: float | None = None
        self.memory = MemorySampler()

    # -- description -----------------------------------------------------------

    def config(self) -> dict[str, Any]:
        return config(
            self.workload,
            self.backend,
            servers=self.servers,
            slots_per_process=self.slots_per_process,
            prefetch=self.prefetch,
            preload=self.preload,
        )

    async def unavailable_reason(self) -> str | None:
        if not (PRODUCT_BIN / "orchestrator").exists():
            return "the product environment .venv is missing (run make install)"
        try:
            import job_orchestrator.sdk  # noqa: F401
        except ImportError:
            return "the SDK is not installed in .venv-bench (run bash bench/install.sh)"
        if self.backend == "postgres":
            return await pg_unreachable_reason()
        return None

    @property
    def database_url(self) -> str:
        if self.backend == "postgres":
            return pg_dsn(DATABASE)
        assert self._tmpdir is not None
        return f"sqlite:///{self._tmpdir}/bench_ours.db"

    @property
    def sqlite_path(self) -> str:
        assert self._tmpdir is not None
        return f"{self._tmpdir}/bench_ours.db"

    # -- lifecycle ---------------------------------------------------------------

    async def setup(self) -> None:
        if self.backend == "postgres":
            await recreate_database(DATABASE)
        else:
            self._tmpdir = tempfile.mkdtemp(prefix="bench_ours_")
        await self.start_server()
        if self.preload:
            started = time.perf_counter()
            await self.preload_history(self.preload)
            self.preload_seconds = time.perf_counter() - started
        from job_orchestrator.sdk import AsyncClient

        self.client = AsyncClient(self.url, timeout=120)

    async def start_server(self) -> None:
        self.server = ServerProcess(
            launcher(),
            self.database_url,
            name=f"{self.name}-server-0".replace(" ", "_"),
            reaper_interval=None,
            poll_interval=None,
            workers=self.servers,
            env={"PYTHONPATH": str(REPO_ROOT)},
            python=str(PRODUCT_BIN / "python"),  # the product's environment, not .venv-bench
        )
        self.server.log_path.unlink(missing_ok=True)  # one run's output per log
        self.port = self.server.port
        self.url = self.server.url
        pid = self.server.spawn(migrate=True).pid
        if self.sampler is not None:
            self.sampler.add_server_roots([pid])
        self.memory.roots = [pid]
        self.memory.start()
        await asyncio.to_thread(self.server.wait_until_ready, 60.0)
        if self.servers > 1:
            await asyncio.sleep(1.0)  # the other uvicorn processes finish starting

    async def teardown(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.close()
            self.client = None
        if self.server is not None:
            self.server.stop()
        self.memory.stop()
        if self.backend == "postgres":
            await drop_database(DATABASE)
        elif self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    # -- producers ---------------------------------------------------------------

    async def enqueue_many(self, seqs: Sequence[int]) -> None:
        from job_orchestrator.sdk.client import job_spec

        assert self.client is not None
        specs = [job_spec(JOB_TYPE, {"seq": s}, queue=QUEUE) for s in seqs]
        await self.client.enqueue_many(specs)

    async def enqueue_one(self, seq: int) -> None:
        assert self.client is not None
        await self.client.enqueue(JOB_TYPE, {"seq": seq}, queue=QUEUE)

    # -- database housekeeping -----------------------------------------------------

    async def purge(self) -> None:
        if self.backend == "postgres":
            await pg_execute(
                DATABASE,
                f"DELETE FROM jobs WHERE queue = '{QUEUE}'",  # cascades to attempts, completions
                "DELETE FROM job_idempotency_keys",
            )
        else:
            await asyncio.to_thread(
                self._sqlite,
                "PRAGMA foreign_keys = ON",
                f"DELETE FROM job_completions WHERE job_id IN "
                f"(SELECT id FROM jobs WHERE queue = '{QUEUE}')",
                f"DELETE FROM job_attempts WHERE job_id IN "
                f"(SELECT id FROM jobs WHERE queue = '{QUEUE}')",
                f"DELETE FROM jobs WHERE queue = '{QUEUE}'",
            )

    async def analyze(self) -> None:
        if self.backend == "postgres":
            await pg_execute(DATABASE, "ANALYZE")
        else:
            await asyncio.to_thread(self._sqlite, "ANALYZE")

    def _sqlite(self, *statements: str) -> list[Any]:
        conn = sqlite3.connect(self.sqlite_path, timeout=30)
        try:
            rows: list[Any] = []
            for sql in statements:
                rows = conn.execute(sql).fetchall()
            conn.commit()
            return rows
        finally:
            conn.close()

    async def preload_history(self, n: int) -> None:
        """n finished jobs in another queue, each with its attempt row and completion record."""
        if self.backend == "postgres":
            await pg_execute(DATABASE, *_pg_preload_sql(n))
            await pg_execute(DATABASE, "VACUUM ANALYZE")
            # The preload wrote ~1 GB of WAL and dirty pages: flush them now, or the checkpoint
            # they trigger lands in the measured phases and is charged to the lease path.
            await pg_execute(DATABASE, "CHECKPOINT")
        else:
            await asyncio.to_thread(self._sqlite, *_sqlite_preload_sql(n))
            await asyncio.to_thread(self._sqlite, "ANALYZE")

    # -- workers -----------------------------------------------------------------

    def start_workers(self, workers: int, probe_addr: str) -> None:
        for slots in split_slots(workers, self.slots_per_process):
            self.workers.spawn(
                [
                    str(PRODUCT_BIN / "python"),
                    "-m",
                    "bench.ours_worker",
                    "--url",
                    self.url,
                    "--queue",
                    QUEUE,
                    "--concurrency",
                    str(slots),
                    "--prefetch",
                    str(self.prefetch),
                    *self.worker_args,
                ],
                {"BENCH_PROBE_ADDR": probe_addr},
            )

    async def recorded_completions(self, n: int, within: float) -> list[float] | None:
        joined = f"job_completions c JOIN jobs j ON j.id = c.job_id WHERE j.queue = '{QUEUE}'"
        if self.backend == "postgres":
            await wait_for_count(DATABASE, f"SELECT count(*) FROM {joined}", n, within)
            return await pg_fetch_floats(
                DATABASE, f"SELECT extract(epoch FROM c.completed_at) FROM {joined}"
            )

        async def reached() -> bool:
            rows = await asyncio.to_thread(self._sqlite, f"SELECT count(*) FROM {joined}")
            return int(rows[0][0]) >= n

        await poll_until(reached, within)
        rows = await asyncio.to_thread(self._sqlite, f"SELECT c.completed_at FROM {joined}")
        return [float(r[0]) for r in rows]


# ---------------------------------------------------------------- preload SQL

# The columns the server fills for a job that ran once and succeeded (see the store).
_PG_JOB_COLUMNS = (
    "queue, type, payload, state, priority, attempts, max_attempts, run_at, created_at, "
    "updated_at, finished_at, lease_seconds, retry_initial_seconds, retry_multiplier, "
    "retry_max_seconds, retry_jitter, cancel_requested"
)


def _pg_preload_sql(n: int) -> list[str]:
    return [
        f"INSERT INTO jobs ({_PG_JOB_COLUMNS}) "
        f"SELECT '{HISTORY_QUEUE}', '{JOB_TYPE}', json_build_object('seq', g), 'succeeded', 0, 1, "
        "3, t, t, t, t, 30, 1, 2, 300, true, false "
        f"FROM generate_series(1, {n}) g, LATERAL (SELECT now() - interval '1 day' "
        "+ g * interval '50 microseconds' AS t) ts",
        "INSERT INTO job_attempts (job_id, attempt, worker_id, leased_at, finished_at, outcome) "
        "SELECT id, 1, 'preload', finished_at, finished_at, 'succeeded' "
        f"FROM jobs WHERE queue = '{HISTORY_QUEUE}'",
        "INSERT INTO job_completions (job_id, idempotency_key, result, attempt, completed_at) "
        "SELECT id, 'job-' || id || '-attempt-1', 'null'::json, 1, finished_at "
        f"FROM jobs WHERE queue = '{HISTORY_QUEUE}'",
    ]


def _sqlite_preload_sql(n: int) -> list[str]:
    return [
        f"WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {n}) "
        f"INSERT INTO jobs ({_PG_JOB_COLUMNS}) "
        f"SELECT '{HISTORY_QUEUE}', '{JOB_TYPE}', json_object('seq', i), 'succeeded', 0, 1, 3, "
        "t, t, t, t, 30, 1, 2, 300, 1, 0 "
        "FROM (SELECT i, unixepoch('now') - 86400 + i * 0.00005 AS t FROM g)",
        "INSERT INTO job_attempts (job_id, attempt, worker_id, leased_at, finished_at, outcome) "
        "SELECT id, 1, 'preload', finished_at, finished_at, 'succeeded' "
        f"FROM jobs WHERE queue = '{HISTORY_QUEUE}'",
        "INSERT INTO job_completions (job_id, idempotency_key, result, attempt, completed_at) "
        "SELECT id, 'job-' || id || '-attempt-1', 'null', 1, finished_at "
        f"FROM jobs WHERE queue = '{HISTORY_QUEUE}'",
    ]


# ---------------------------------------------------------------- helpers


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def tree(roots: Sequence[int]) -> set[int]:
    from bench.cpu import all_pids, descendants

    return descendants(roots, all_pids())


class MemorySampler:
    """The server process tree's resident memory, every `interval` seconds, in a thread."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.roots: list[int] = []
        self.samples: list[tuple[float, float]] = []  # (unix time, MiB)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="rss", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)

    def _loop(self) -> None:
        while not self._stop.is_set():
            total = sum(rss_bytes(p) for p in tree(self.roots))
            if total:
                self.samples.append((time.time(), total / 2**20))
            self._stop.wait(self.interval)


def create(
    workload: Workload,
    backend: str,
    **options: Any,
) -> SystemUnderTest | str:
    """Our system on `backend`, or the reason it cannot be measured."""
    return OursSystem(workload, backend, **options)


# ---------------------------------------------------------------- results


def add_details(system: OursSystem, result: Any) -> None:
    """What only we report: the preload's cost and the server's memory over the run."""
    details = result.details
    if system.preload_seconds is not None:
        details["preload_seconds"] = round(system.preload_seconds, 1)
    samples = system.memory.samples
    if samples:
        t0 = samples[0][0]
        step = max(1, len(samples) // 120)
        details["server_rss_mib_over_time"] = [
            [round(t - t0, 1), round(mib, 1)] for t, mib in samples[::step]
        ]
        mibs = [mib for _, mib in samples]
        details["server_rss_mib"] = {
            "after_start": round(mibs[0], 1),
            "peak": round(max(mibs), 1),
            "end": round(mibs[-1], 1),
        }


TARGETS_PG = {
    "process_jobs_per_s": 10_000,
    "enqueue_batch_jobs_per_s": 50_000,
    "enqueue_single_jobs_per_s": 3_000,
}


def print_notes(console: Any, results: Sequence[Any], backend: str) -> None:
    """The figures the issue asks about that the table does not show."""
    mine = [r for r in results if r.name.startswith(NAME) and not r.skipped]
    if not mine:
        return
    if backend == "sqlite":
        console.print(
            "[yellow]job-orchestrator ran its SQLite profile (PostgreSQL not used): "
            "target >= 3,000 jobs/s processing.[/]"
        )
    base = mine[0]
    for r in mine:
        rss = r.details.get("server_rss_mib")
        if rss:
            console.print(
                f"{r.name}: server RSS MiB after start {rss['after_start']}, peak {rss['peak']}, "
                f"end {rss['end']}; other load during processing "
                f"{r.details.get('other_load_cores_busy')} cores"
            )
    for r in mine[1:]:
        if r.process_jobs_per_s and base.process_jobs_per_s:
            ratio = r.process_jobs_per_s / base.process_jobs_per_s
            console.print(
                f"{r.name}: processing {r.process_jobs_per_s:,.0f} jobs/s = {ratio:.0%} of the "
                f"empty-table {base.process_jobs_per_s:,.0f} jobs/s (target >= 90%); "
                f"preload took {r.details.get('preload_seconds')} s"
            )
    peers = [
        r
        for r in results
        if not r.name.startswith(NAME) and r.name != "raw_sql_limit" and r.process_jobs_per_s
    ]
    fastest = max(peers, key=lambda r: r.process_jobs_per_s, default=None)
    if backend == "postgres" and base.process_jobs_per_s:
        checks = [
            (f"{key} >= {floor:,}", (getattr(base, key) or 0) >= floor)
            for key, floor in TARGETS_PG.items()
        ]
        checks.append(("pickup p50 <= 3 ms", (base.pickup_p50_ms or 1e9) <= 3))
        checks.append(("pickup p99 <= 5 ms", (base.pickup_p99_ms or 1e9) <= 5))
        if fastest is not None:
            checks.append(
                (
                    f"process >= 2x fastest peer ({fastest.name} "
                    f"{fastest.process_jobs_per_s:,.0f})",
                    base.process_jobs_per_s >= 2 * fastest.process_jobs_per_s,
                )
            )
        for text, ok in checks:
            console.print(f"  target {text}: {'[green]met[/]' if ok else '[red]not met[/]'}")
    elif backend == "sqlite" and base.process_jobs_per_s:
        ok = base.process_jobs_per_s >= 3000
        console.print(
            f"  target SQLite >= 3,000 jobs/s: {'[green]met[/]' if ok else '[red]not met[/]'}"
        )

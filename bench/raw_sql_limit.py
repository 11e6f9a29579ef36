"""The floor: the smallest claim+complete loop straight on PostgreSQL via asyncpg.

No HTTP, no framework: one worker process, one connection, claiming a batch
with `FOR UPDATE SKIP LOCKED` and completing it with one UPDATE, in its own
database (`bench_raw`). Run for batches of 1, 10 and 100 so we know how close
any queue (ours included) gets to what PostgreSQL itself allows here.
Enqueue floors use the same table: multi-row INSERT in batches from one
connection, and single-row INSERTs from `producers` concurrent connections.

`python -m bench.raw_sql_limit BATCH` is the worker process (it stops by itself
when nothing is left to claim).
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from bench.common import ProgressFn, SystemResult, Workload, package_version, poll_until
from bench.cpu import CpuSampler
from bench.postgres import (
    drop_database,
    pg_dsn,
    pg_execute,
    pg_fetch_floats,
    pg_unreachable_reason,
    recreate_database,
)
from bench.processes import WorkerProcesses, bench_python

NAME = "raw_sql_limit"
DATABASE = "bench_raw"
BATCHES = (1, 10, 100)

SCHEMA = """
CREATE TABLE raw_jobs (
    id bigserial PRIMARY KEY,
    payload jsonb NOT NULL,
    status text NOT NULL DEFAULT 'queued',
    leased_at timestamptz,
    finished_at timestamptz
);
-- Only queued rows are searched by the claim, as any queue's partial index does.
CREATE INDEX raw_jobs_queued ON raw_jobs (id) WHERE status = 'queued';
"""

CLAIM = """
UPDATE raw_jobs SET status = 'leased', leased_at = clock_timestamp()
WHERE id IN (
    SELECT id FROM raw_jobs WHERE status = 'queued'
    ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
)
RETURNING id
"""

COMPLETE = """
UPDATE raw_jobs SET status = 'done', finished_at = clock_timestamp()
WHERE id = ANY($1::bigint[])
"""

INSERT_MANY = "INSERT INTO raw_jobs (payload) SELECT * FROM unnest($1::jsonb[])"
INSERT_ONE = "INSERT INTO raw_jobs (payload) VALUES ($1::jsonb)"


def config(workload: Workload) -> dict[str, Any]:
    return {
        "summary": f"asyncpg, 1 conn, batch {BATCHES[-1]} (1, 10: see JSON)",
        "driver": f"asyncpg {package_version('asyncpg')}",
        "worker": "1 process, 1 connection, autocommit claim then complete",
        "claim": "UPDATE .. WHERE id IN (SELECT .. ORDER BY id LIMIT b FOR UPDATE SKIP LOCKED)",
        "complete": "UPDATE .. WHERE id = ANY($1)",
        "batches": list(BATCHES),
        "reported_process_figure": f"batch {BATCHES[-1]}",
        "enqueue_batch": f"INSERT .. SELECT unnest($1), {workload.batch_size} rows per call",
        "enqueue_single": f"single-row INSERT from {workload.producers} connections",
        "pickup": "not measured (no worker protocol to wake)",
    }


# ---------------------------------------------------------------- worker process


async def worker_loop(batch: int) -> int:
    """Claim and complete until the table has nothing queued; jobs done."""
    import asyncpg

    conn = await asyncpg.connect(pg_dsn(DATABASE))
    done = 0
    try:
        while True:
            ids = [r[0] for r in await conn.fetch(CLAIM, batch)]
            if not ids:
                return done
            await conn.execute(COMPLETE, ids)
            done += len(ids)
    finally:
        await conn.close()


# ---------------------------------------------------------------- harness side


async def _enqueue_batch(n: int, step: int) -> float:
    import asyncpg

    conn = await asyncpg.connect(pg_dsn(DATABASE))
    try:
        start = time.perf_counter()
        for lo in range(0, n, step):
            payloads = [f'{{"seq": {s}}}' for s in range(lo, min(n, lo + step))]
            await conn.execute(INSERT_MANY, payloads)
        return time.perf_counter() - start
    finally:
        await conn.close()


async def _enqueue_single(n: int, producers: int) -> float:
    import asyncpg

    pool = await asyncpg.create_pool(pg_dsn(DATABASE), min_size=producers, max_size=producers)
    counter = iter(range(n))

    async def producer() -> None:
        for seq in counter:
            await pool.execute(INSERT_ONE, f'{{"seq": {seq}}}')

    try:
        start = time.perf_counter()
        await asyncio.gather(*(producer() for _ in range(producers)))
        return time.perf_counter() - start
    finally:
        await pool.close()


async def _reseed(n: int) -> None:
    import asyncpg

    conn = await asyncpg.connect(pg_dsn(DATABASE))
    try:
        await conn.execute("TRUNCATE raw_jobs")
        await conn.execute(
            "INSERT INTO raw_jobs (payload) "
            "SELECT jsonb_build_object('seq', s) FROM generate_series(0, $1 - 1) s",
            n,
        )
        await conn.execute("VACUUM ANALYZE raw_jobs")
    finally:
        await conn.close()


async def _run_batch(batch: int, w: Workload, sampler: CpuSampler) -> dict[str, Any]:
    """One claim+complete run over w.jobs rows with the given batch size."""
    await _reseed(w.jobs)
    workers = WorkerProcesses(f"{NAME}-b{batch}")
    workers.spawn([bench_python(), "-m", "bench.raw_sql_limit", str(batch)])
    sampler.add_roots(workers.pids)
    proc = workers.procs[0]

    async def exited() -> bool:
        return proc.poll() is not None

    try:
        if not await poll_until(exited, w.process_timeout):
            raise RuntimeError(f"raw loop (batch {batch}) did not finish in time")
    finally:
        workers.stop()
    leased = await pg_fetch_floats(DATABASE, "SELECT extract(epoch FROM leased_at) FROM raw_jobs")
    finished = await pg_fetch_floats(
        DATABASE, "SELECT extract(epoch FROM finished_at) FROM raw_jobs WHERE status = 'done'"
    )
    first, last = min(leased), max(finished)
    cpu = sampler.cpu_between(first, last)
    return {
        "jobs_per_s": len(finished) / (last - first),
        "cpu_s_per_1k_jobs": cpu * 1000 / len(finished),
        "cpu_by_part": sampler.parts_between(first, last),
        "other_load_cores_busy": (sampler.cpu_between(first, last, "machine") - cpu)
        / (last - first),
        "curve": sorted(t - first for t in finished),
    }


async def measure(w: Workload, progress: ProgressFn | None = None) -> SystemResult:
    """Every raw figure; reported as skipped when PostgreSQL is not reachable."""
    result = SystemResult(name=NAME, config=config(w))
    if reason := await pg_unreachable_reason():
        result.skipped = reason
        return result
    sampler = CpuSampler(pg_database=DATABASE)
    say = progress or (lambda _p, _d, _t: None)
    try:
        await recreate_database(DATABASE)
        await pg_execute(DATABASE, SCHEMA)
        sampler.start()
        say("raw enqueue", 0, 2)
        result.enqueue_single_jobs_per_s = w.single_jobs / await _enqueue_single(
            w.single_jobs, w.producers
        )
        await pg_execute(DATABASE, "TRUNCATE raw_jobs")
        result.enqueue_batch_jobs_per_s = w.jobs / await _enqueue_batch(w.jobs, w.batch_size)
        say("raw enqueue", 2, 2)
        for i, batch in enumerate(BATCHES):
            say(f"raw claim+complete batch {batch}", i, len(BATCHES))
            figures = await _run_batch(batch, w, sampler)
            result.details[f"batch_{batch}"] = {
                k: (round(v, 3) if isinstance(v, float) else v)
                for k, v in figures.items()
                if k != "curve"
            }
            result.curve = figures["curve"]  # the last (largest batch) is plotted
            result.process_jobs_per_s = figures["jobs_per_s"]
            result.cpu_s_per_1k_jobs = figures["cpu_s_per_1k_jobs"]
    except Exception as exc:  # reported in the table, never fatal to the run
        result.skipped = f"failed: {exc.__class__.__name__}: {exc}"
    finally:
        sampler.stop()
        await drop_database(DATABASE)
    return result


if __name__ == "__main__":
    asyncio.run(worker_loop(int(sys.argv[1])))

"""Steady state with retention: job-orchestrator processing a long stream of jobs while the
cleaner deletes succeeded ones ``--retain`` (30 s) after they finish (PostgreSQL).

    python -m bench.run --retention            (make benchmark BENCH_ARGS=--retention)
    python -m bench.retention --jobs 200000 --retain 30s

One server process, SDK worker processes (bench/ours_worker.py), a producer that keeps at most
``--backlog`` jobs pending. Every second it samples the server's completed count and the
tables: rows of ``jobs``, bytes of ``jobs`` with its indexes (and of attempts, completions and
idempotency keys), dead tuples, the cleaner's deleted total. It reports whether the table stays
bounded and the throughput of the last fifth of the jobs against the first fifth (the issue's
bar: at least 90%).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncpg

from bench import postgres
from bench.ours import DEFAULT_PREFETCH, JOB_TYPE, PRODUCT_BIN, QUEUE
from bench.postgres import drop_database, pg_dsn, recreate_database
from bench.processes import REPO_ROOT, WorkerProcesses, launcher
from job_orchestrator.verify.launcher import ServerProcess

DATABASE = "bench_retention"
TABLES = ("jobs", "job_attempts", "job_completions", "job_idempotency_keys")


@dataclass
class Sample:
    t: float  # seconds since the first job was enqueued
    succeeded: int
    jobs_rows: int
    jobs_bytes: int  # the jobs table with its indexes and TOAST
    jobs_index_bytes: int
    other_bytes: int  # attempts, completions, idempotency keys (with their indexes)
    dead_tuples: int
    deleted: int
    autovacuums: int  # of the jobs table so far


async def sample(conn: asyncpg.Connection, t: float) -> Sample:
    # Completed so far: those still kept plus those the cleaner deleted (only succeeded jobs
    # expire in this run), read in one snapshot.
    deleted, kept = await conn.fetchrow(
        "SELECT (SELECT coalesce(max(value), 0) FROM maintenance_counters "
        "WHERE name = 'jobs_deleted'), "
        "(SELECT count(*) FROM jobs WHERE state = 'succeeded' AND finished_at IS NOT NULL)"
    )
    vacuums = int(
        await conn.fetchval(
            "SELECT coalesce(autovacuum_count, 0) FROM pg_stat_user_tables WHERE relname = 'jobs'"
        )
    )
    sizes = {
        name: int(await conn.fetchval("SELECT pg_total_relation_size($1::regclass)", name))
        for name in TABLES
    }
    return Sample(
        t=round(t, 2),
        succeeded=int(deleted) + int(kept),
        jobs_rows=int(await conn.fetchval("SELECT count(*) FROM jobs")),
        jobs_bytes=sizes["jobs"],
        jobs_index_bytes=int(await conn.fetchval("SELECT pg_indexes_size('jobs'::regclass)")),
        other_bytes=sum(v for k, v in sizes.items() if k != "jobs"),
        dead_tuples=int(
            await conn.fetchval(
                "SELECT coalesce(n_dead_tup, 0) FROM pg_stat_user_tables WHERE relname = 'jobs'"
            )
        ),
        deleted=int(deleted),
        autovacuums=vacuums,
    )


def crossing(samples: list[Sample], n: float) -> float:
    """When the completed count reached ``n`` (linear between samples)."""
    previous = samples[0]
    for s in samples:
        if s.succeeded >= n:
            if s.succeeded == previous.succeeded:
                return s.t
            fraction = (n - previous.succeeded) / (s.succeeded - previous.succeeded)
            return previous.t + fraction * (s.t - previous.t)
        previous = s
    return samples[-1].t


def summarize(samples: list[Sample], jobs: int, retain: str) -> dict[str, Any]:
    fifth = jobs / 5
    # From the first completion: the workers' start-up is not the table's doing.
    first = fifth / max(crossing(samples, fifth) - crossing(samples, 1), 1e-9)
    last = fifth / max(crossing(samples, jobs) - crossing(samples, jobs - fifth), 1e-9)
    steady = [s for s in samples if s.deleted > 0]  # once the cleaner has started deleting
    mib = 2**20
    return {
        "jobs": jobs,
        "retain_succeeded": retain,
        "duration_s": samples[-1].t,
        "throughput_first_fifth_jobs_per_s": round(first),
        "throughput_last_fifth_jobs_per_s": round(last),
        "last_vs_first": round(last / first, 3),
        "jobs_rows_max": max(s.jobs_rows for s in samples),
        "jobs_rows_steady_min_max": [
            min((s.jobs_rows for s in steady), default=0),
            max((s.jobs_rows for s in steady), default=0),
        ],
        "jobs_mib_max": round(max(s.jobs_bytes for s in samples) / mib, 1),
        "jobs_mib_end": round(samples[-1].jobs_bytes / mib, 1),
        "jobs_index_mib_end": round(samples[-1].jobs_index_bytes / mib, 1),
        "other_tables_mib_end": round(samples[-1].other_bytes / mib, 1),
        "deleted": samples[-1].deleted,
        "jobs_autovacuums": samples[-1].autovacuums,
    }


async def run(*, jobs: int, retain: str, workers: int, slots: int, backlog: int) -> dict[str, Any]:
    """The summary and the samples."""
    from job_orchestrator.sdk import AsyncClient
    from job_orchestrator.sdk.client import job_spec

    await recreate_database(DATABASE)
    server = ServerProcess(
        launcher(),
        pg_dsn(DATABASE),
        name="retention-server",
        reaper_interval=None,
        poll_interval=None,
        env={"PYTHONPATH": str(REPO_ROOT), "ORCHESTRATOR_RETAIN_SUCCEEDED": retain},
        python=str(PRODUCT_BIN / "python"),
    )
    server.spawn(migrate=True)
    await asyncio.to_thread(server.wait_until_ready, 60.0)
    group = WorkerProcesses("retention-worker")
    conn = await asyncpg.connect(pg_dsn(DATABASE))
    client = AsyncClient(server.url, timeout=120)
    samples: list[Sample] = []
    try:
        for _ in range(workers):
            group.spawn(
                [
                    str(PRODUCT_BIN / "python"), "-m", "bench.ours_worker", "--url", server.url,
                    "--queue", QUEUE, "--concurrency", str(slots),
                    "--prefetch", str(DEFAULT_PREFETCH),
                ]
            )  # fmt: skip

        started = time.monotonic()
        enqueued = 0
        done = 0  # completed jobs as of the last sample

        async def produce() -> None:
            nonlocal enqueued
            while enqueued < jobs:
                if enqueued - done >= backlog:
                    await asyncio.sleep(0.05)
                    continue
                n = min(1000, jobs - enqueued)
                specs = [job_spec(JOB_TYPE, {"seq": enqueued + i}, queue=QUEUE) for i in range(n)]
                await client.enqueue_many(specs)
                enqueued += n

        producer = asyncio.create_task(produce())
        while True:
            samples.append(await sample(conn, time.monotonic() - started))
            done = samples[-1].succeeded
            if done >= jobs:
                break
            if producer.done() and (error := producer.exception()) is not None:
                raise error
            await asyncio.sleep(1.0)
        await producer
    finally:
        await client.close()
        await conn.close()
        group.stop()
        server.stop()
        await drop_database(DATABASE)
    return {"summary": summarize(samples, jobs, retain), "samples": [asdict(s) for s in samples]}


def print_summary(summary: dict[str, Any]) -> None:
    print(
        f"steady state, {summary['jobs']:,} jobs, RETAIN_SUCCEEDED={summary['retain_succeeded']}:"
        f" {summary['duration_s']:.0f} s; jobs table at most {summary['jobs_rows_max']:,} rows"
        f" / {summary['jobs_mib_max']} MiB with indexes (end {summary['jobs_mib_end']} MiB, of"
        f" which indexes {summary['jobs_index_mib_end']} MiB); rows once deleting"
        f" {summary['jobs_rows_steady_min_max']}; deleted {summary['deleted']:,}; throughput"
        f" last fifth {summary['throughput_last_fifth_jobs_per_s']:,} jobs/s vs first fifth"
        f" {summary['throughput_first_fifth_jobs_per_s']:,} = {summary['last_vs_first']:.0%}"
        f" (target >= 90%); autovacuums of jobs: {summary['jobs_autovacuums']}"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.retention", description=__doc__)
    p.add_argument("--jobs", type=int, default=200_000)
    p.add_argument("--retain", default="30s", help="ORCHESTRATOR_RETAIN_SUCCEEDED")
    p.add_argument("--workers", type=int, default=2, help="worker processes")
    p.add_argument("--slots", type=int, default=10, help="handler slots per worker process")
    p.add_argument("--backlog", type=int, default=20_000, help="at most this many jobs pending")
    p.add_argument("--json", type=Path, default=Path("bench-results/retention.json"))
    p.add_argument(
        "--pg-port",
        type=int,
        default=None,
        help="PostgreSQL on 127.0.0.1 at this port instead of 5432 (e.g. a private server "
        "with autovacuum on, when the shared one runs with it off)",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print_summary(measure(args))


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Run with the options of ``parse_args`` (also bench.run's --retention), write the JSON."""
    if args.pg_port is not None:
        postgres.PG_PORT = args.pg_port  # pg_dsn reads it at each call
    result = asyncio.run(
        run(
            jobs=args.jobs,
            retain=args.retain,
            workers=args.workers,
            slots=args.slots,
            backlog=args.backlog,
        )
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    summary: dict[str, Any] = result["summary"]
    return summary


if __name__ == "__main__":
    main()

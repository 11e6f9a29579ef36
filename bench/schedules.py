"""`python -m bench.schedules`: fire lag and server CPU with many schedules firing every second.

1,000 schedules `every_seconds: 1` (overlap `allow`, no workers, so every fire time enqueues a
job) against one API server process on PostgreSQL (`bench_schedules`, dropped after), for 60 s.
Fire lag is the job's `created_at` - `scheduled_for`, both from the database clock, over the
fire times of the measured window; the server's CPU share is its process tree's utime+stime
over the window (bench/cpu.py), beside the database's and the whole machine's.

    .venv-bench/bin/python -m bench.schedules                      # 1,000 schedules, 60 s
    .venv-bench/bin/python -m bench.schedules --schedules 100 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import time
from pathlib import Path
from typing import Any

from bench.cpu import CpuSampler
from bench.ours import PRODUCT_BIN
from bench.postgres import (
    drop_database,
    pg_dsn,
    pg_fetch_floats,
    pg_fetch_int,
    pg_unreachable_reason,
    recreate_database,
)
from bench.processes import REPO_ROOT, launcher
from bench.stats import percentile
from job_orchestrator.verify.launcher import ServerProcess

DATABASE = "bench_schedules"
QUEUE = "scheduled"
# Fire times this close to the window's end may still be in flight when it closes.
SETTLE_SECONDS = 3.0


async def create_schedules(url: str, count: int, every: int) -> None:
    from job_orchestrator.sdk import AsyncClient, ScheduleSpec

    limit = asyncio.Semaphore(20)
    async with AsyncClient(url, timeout=60) as client:

        async def one(i: int) -> None:
            spec = ScheduleSpec(
                name=f"bench-{i:05d}",
                every_seconds=every,
                overlap="allow",
                job={"type": "noop", "queue": QUEUE, "payload": {"i": i}},
            )
            async with limit:
                await client.put_schedule(spec)

        await asyncio.gather(*(one(i) for i in range(count)))


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    await recreate_database(DATABASE)
    sampler = CpuSampler(pg_database=DATABASE)
    server = ServerProcess(
        launcher(),
        pg_dsn(DATABASE),
        name="schedules-server",
        reaper_interval=None,
        poll_interval=None,
        env={"PYTHONPATH": str(REPO_ROOT)},
        python=str(PRODUCT_BIN / "python"),  # the product's environment, not .venv-bench
    )
    server.log_path.unlink(missing_ok=True)
    try:
        sampler.add_server_roots([server.spawn(migrate=True).pid])
        await asyncio.to_thread(server.wait_until_ready, 60.0)
        sampler.start()
        created = time.perf_counter()
        await create_schedules(server.url, args.schedules, args.every)
        create_seconds = time.perf_counter() - created
        # The window starts at a whole second, a couple after the last schedule was created.
        start = math.floor(time.time()) + 2.0
        await asyncio.sleep(start - time.time())
        end = start + args.seconds
        await asyncio.sleep(end - time.time() + SETTLE_SECONDS)
        sampler.stop()
        return await summarise(args, sampler, start, end, create_seconds)
    finally:
        server.stop()
        await drop_database(DATABASE)


async def summarise(
    args: argparse.Namespace, sampler: CpuSampler, start: float, end: float, create_s: float
) -> dict[str, Any]:
    window = f"scheduled_for >= to_timestamp({start}) AND scheduled_for < to_timestamp({end})"
    lags = await pg_fetch_floats(
        DATABASE,
        f"SELECT EXTRACT(EPOCH FROM created_at - scheduled_for) FROM jobs WHERE {window}",
    )
    distinct = await pg_fetch_int(
        DATABASE, f"SELECT count(DISTINCT (schedule, scheduled_for)) FROM jobs WHERE {window}"
    )
    fire_times = args.schedules * math.ceil((end - start) / args.every)
    seconds = end - start
    parts = sampler.parts_between(start, end)
    machine = sampler.cpu_between(start, end, "machine")
    return {
        "schedules": args.schedules,
        "every_seconds": args.every,
        "window_seconds": seconds,
        "create_seconds": round(create_s, 2),
        "fire_times_expected": fire_times,
        "jobs": len(lags),
        "duplicates": len(lags) - distinct,
        "missed": fire_times - distinct,
        "lag_p50_ms": round(percentile(lags, 50) * 1000, 1) if lags else None,
        "lag_p99_ms": round(percentile(lags, 99) * 1000, 1) if lags else None,
        "lag_max_ms": round(max(lags, default=0.0) * 1000, 1),
        "server_cpu_share": round(parts["server"] / seconds, 3),
        "database_cpu_share": round(parts["database"] / seconds, 3),
        "machine_cores_busy": round(machine / seconds, 2),
        "cores": os.cpu_count(),
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any] | None:
    if reason := await pg_unreachable_reason():
        print(f"skipped: {reason}")
        return None
    return await measure(args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--every", type=int, default=1, help="every_seconds of each schedule")
    parser.add_argument("--json", default="bench-results/schedules.json")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    if result is None:
        return
    for name, value in result.items():
        print(f"{name:>22}: {value}")
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""pgqueuer on its own PostgreSQL database, the worker a real process
running `pgqueuer.run` (what `pgq run` does).

Configured as the issue and pgqueuer's docs suggest for throughput: dequeue
batch size 10 with 20 concurrent tasks (`--max-concurrent-tasks`, which must be
at least twice the batch size), LISTEN/NOTIFY wake-ups, default (durable) tables.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bench.common import SystemUnderTest, package_version
from bench.postgres import (
    drop_database,
    pg_dsn,
    pg_execute,
    pg_fetch_floats,
    pg_unreachable_reason,
    recreate_database,
    wait_for_count,
)
from bench.processes import bench_python

if TYPE_CHECKING:
    import asyncpg
    from pgqueuer import Queries

DATABASE = "bench_pgqueuer"
DSN_ENV = "BENCH_PGQUEUER_DSN"
BATCH_SIZE = 10
ENTRYPOINT = "noop"


class PgQueuerPeer(SystemUnderTest):
    name = "pgqueuer"
    pg_database = DATABASE
    pool: asyncpg.Pool | None = None
    queries: Queries | None = None

    def config(self) -> dict[str, Any]:
        return {
            "summary": f"1 proc, batch {BATCH_SIZE}, {self.workload.workers} tasks",
            "version": package_version("pgqueuer"),
            "broker": "PostgreSQL (asyncpg)",
            "worker_processes": 1,
            "batch_size": BATCH_SIZE,
            "max_concurrent_tasks": self.workload.workers,
            "durability": "durable (default)",
            "task": "async no-op",
            "batch_enqueue": f"Queries.enqueue with lists, {self.workload.batch_size} per call",
        }

    async def unavailable_reason(self) -> str | None:
        if importlib.util.find_spec("pgqueuer") is None:
            return "package pgqueuer not installed (see bench/requirements.txt)"
        return await pg_unreachable_reason()

    async def setup(self) -> None:
        import asyncpg
        from pgqueuer import AsyncpgPoolDriver, Queries

        await recreate_database(DATABASE)
        # Producers share a pool sized for the concurrent single-enqueue phase.
        self.pool = await asyncpg.create_pool(
            pg_dsn(DATABASE), min_size=1, max_size=self.workload.producers + 1
        )
        self.queries = Queries(AsyncpgPoolDriver(self.pool))
        await self.queries.install()

    async def teardown(self) -> None:
        if self.pool is not None:
            await self.pool.close()
        await drop_database(DATABASE)

    async def enqueue_many(self, seqs: Sequence[int]) -> None:
        assert self.queries is not None
        await self.queries.enqueue(
            [ENTRYPOINT] * len(seqs), [str(s).encode() for s in seqs], [0] * len(seqs)
        )

    async def enqueue_one(self, seq: int) -> None:
        assert self.queries is not None
        await self.queries.enqueue(ENTRYPOINT, str(seq).encode())

    async def purge(self) -> None:
        await pg_execute(DATABASE, "TRUNCATE pgqueuer, pgqueuer_log, pgqueuer_statistics")

    async def analyze(self) -> None:
        await pg_execute(DATABASE, "ANALYZE")

    def start_workers(self, workers: int, probe_addr: str) -> None:
        self.workers.spawn(
            [
                bench_python(),
                "-m",
                "bench.peers.pgqueuer_app",
                str(BATCH_SIZE),
                str(workers),
            ],
            {"BENCH_PROBE_ADDR": probe_addr, DSN_ENV: pg_dsn(DATABASE)},
        )

    async def recorded_completions(self, n: int, within: float) -> list[float] | None:
        # Completions are flushed to pgqueuer_log in small batches (~0.1 s timer).
        done = "SELECT count(*) FROM pgqueuer_log WHERE status = 'successful'"
        await wait_for_count(DATABASE, done, n, within)
        return await pg_fetch_floats(
            DATABASE,
            "SELECT extract(epoch FROM created) FROM pgqueuer_log WHERE status = 'successful'",
        )

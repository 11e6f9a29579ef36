"""procrastinate on its own PostgreSQL database, workers as real processes.

Configuration follows procrastinate's docs for throughput: several worker
processes, each running async tasks with `concurrency` slots, LISTEN/NOTIFY on
so idle workers wake at once; jobs kept on success (the default), like ours.
"""

from __future__ import annotations

import importlib.util
import os
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

# Read by bench.peers.procrastinate_app at import, in the harness and the workers.
DSN_ENV = "BENCH_PROCRASTINATE_DSN"
POOL_ENV = "BENCH_PROCRASTINATE_POOL"

if TYPE_CHECKING:
    import procrastinate
    from procrastinate.types import JSONDict

DATABASE = "bench_procrastinate"
PROCESSES = 2


class ProcrastinatePeer(SystemUnderTest):
    name = "procrastinate"
    pg_database = DATABASE
    app: procrastinate.App | None = None

    @property
    def concurrency(self) -> int:
        return max(1, self.workload.workers // PROCESSES)

    def config(self) -> dict[str, Any]:
        return {
            "summary": f"{PROCESSES} procs x {self.concurrency} async, LISTEN/NOTIFY",
            "version": package_version("procrastinate"),
            "broker": "PostgreSQL (psycopg 3 pool)",
            "worker_processes": PROCESSES,
            "concurrency_per_process": self.concurrency,
            "listen_notify": True,
            "delete_jobs": "never",
            "task": "async no-op",
            "batch_enqueue": f"batch_defer_async, {self.workload.batch_size} per call",
        }

    async def unavailable_reason(self) -> str | None:
        if importlib.util.find_spec("procrastinate") is None:
            return "package procrastinate not installed (see bench/requirements.txt)"
        return await pg_unreachable_reason()

    async def setup(self) -> None:
        os.environ[DSN_ENV] = pg_dsn(DATABASE)
        os.environ[POOL_ENV] = str(self.workload.producers + 2)
        from bench.peers.procrastinate_app import app

        await recreate_database(DATABASE)
        self.app = app
        await self.app.open_async()
        await self.app.schema_manager.apply_schema_async()

    async def teardown(self) -> None:
        if self.app is not None:
            await self.app.close_async()
        await drop_database(DATABASE)

    async def enqueue_many(self, seqs: Sequence[int]) -> None:
        from bench.peers.procrastinate_app import noop

        kwargs: list[JSONDict] = [{"seq": s} for s in seqs]
        await noop.batch_defer_async(*kwargs)

    async def enqueue_one(self, seq: int) -> None:
        from bench.peers.procrastinate_app import noop

        await noop.defer_async(seq=seq)

    async def purge(self) -> None:
        await pg_execute(DATABASE, "TRUNCATE procrastinate_jobs CASCADE")

    async def analyze(self) -> None:
        await pg_execute(DATABASE, "ANALYZE")

    def start_workers(self, workers: int, probe_addr: str) -> None:
        env = {
            "BENCH_PROBE_ADDR": probe_addr,
            DSN_ENV: pg_dsn(DATABASE),
            POOL_ENV: str(self.concurrency + 2),
        }
        for _ in range(PROCESSES):
            self.workers.spawn(
                [
                    bench_python(),
                    "-m",
                    "procrastinate",
                    "--app=bench.peers.procrastinate_app.app",
                    "--log-level=warning",
                    "worker",
                    f"--concurrency={self.concurrency}",
                    "--queues=bench",
                ],
                env,
            )

    async def recorded_completions(self, n: int, within: float) -> list[float] | None:
        done_sql = "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
        await wait_for_count(DATABASE, done_sql, n, within)
        return await pg_fetch_floats(
            DATABASE,
            "SELECT extract(epoch FROM at) FROM procrastinate_events WHERE type = 'succeeded'",
        )

"""What PgBouncer mode costs (docs/deploy.md): the median latency of a 1-job enqueue and of a
lease+complete round, direct with the statement caches on, direct with them off, and through a
private PgBouncer in transaction mode. Run: ``.venv/bin/python -m bench.pgbouncer_cost``."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid

import asyncpg
from tests.support.pgbouncer import PgBouncer

from job_orchestrator.domain.models import Completion, LeaseRequest, NewJob
from job_orchestrator.store.migrate import migrate
from job_orchestrator.store.pg_engine import PoolerMode
from job_orchestrator.store.postgres import PostgresStore

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
ROUNDS = 400


async def measure(url: str, mode: PoolerMode) -> tuple[float, float]:
    store = PostgresStore(url, pgbouncer=mode, pool_size=2)
    try:
        for _ in range(20):  # warm the pool and the caches
            await store.enqueue_many([NewJob(type="t", queue="q")])
        enqueues, rounds = [], []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            await store.enqueue_many([NewJob(type="t", queue="q")])
            enqueues.append(time.perf_counter() - started)
            started = time.perf_counter()
            (lease,) = await store.lease(LeaseRequest(worker_id="w", queues=("q",)))
            await store.complete_many([Completion(lease.job_id, lease.lease_token, {})])
            rounds.append(time.perf_counter() - started)
        return statistics.median(enqueues) * 1e6, statistics.median(rounds) * 1e6
    finally:
        await store.close()


async def admin(sql: str) -> None:
    connection = await asyncpg.connect(ADMIN_DSN)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def main() -> None:
    name = f"jo_cost_{uuid.uuid4().hex[:8]}"
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    direct = f"postgresql://postgres@127.0.0.1:5432/{name}"
    migrate(direct)
    bouncer = PgBouncer()
    cases: list[tuple[str, str, PoolerMode]] = [
        ("direct, caches on", direct, "off"),
        ("direct, caches off", direct, "transaction"),
        ("PgBouncer, caches off", bouncer.url_for(direct), "auto"),
        ("direct, caches on", direct, "off"),  # again: how much the machine drifted
    ]
    try:
        for label, url, mode in cases:
            enqueue, lease_complete = asyncio.run(measure(url, mode))
            print(
                f"{label:24s} enqueue 1 job {enqueue:7.0f} us   "
                f"lease+complete {lease_complete:7.0f} us"
            )
    finally:
        bouncer.stop()
        asyncio.run(admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()

"""The pgqueuer factory, its no-op entrypoint and the worker process entry point."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from pgqueuer import AsyncpgDriver, Job, PgQueuer, run

from bench.peers.pgqueuer_peer import DSN_ENV
from bench.probe import report


@asynccontextmanager
async def create_pgqueuer() -> AsyncIterator[PgQueuer]:
    # As in pgqueuer's quick start: one asyncpg connection per worker process.
    connection = await asyncpg.connect(os.environ[DSN_ENV])
    pgq = PgQueuer(AsyncpgDriver(connection))

    @pgq.entrypoint("noop")
    async def noop(job: Job) -> None:
        report(int(job.payload or b"0"))

    try:
        yield pgq
    finally:
        await connection.close()


def main() -> None:
    """`python -m bench.peers.pgqueuer_app BATCH_SIZE MAX_CONCURRENT_TASKS`.

    Uses `pgqueuer.run`, the documented equivalent of `pgq run` without the CLI
    (the CLI of pgqueuer 1.6 fails to parse --log-level with typer 0.29).
    """
    batch_size, max_tasks = (int(x) for x in sys.argv[1:3])
    asyncio.run(run(create_pgqueuer, batch_size=batch_size, max_concurrent_tasks=max_tasks))


if __name__ == "__main__":
    main()

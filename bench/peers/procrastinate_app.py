"""The procrastinate app and its no-op task (imported by the worker processes)."""

from __future__ import annotations

import os

import procrastinate

from bench.peers.procrastinate_peer import DSN_ENV, POOL_ENV
from bench.probe import report

# Configured from the environment so the harness and the worker processes
# share this module: the harness sets the variables before importing it.
# Pool: one connection per concurrent job or producer, plus the LISTEN one.
app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(
        conninfo=os.environ.get(DSN_ENV, ""),
        min_size=1,
        max_size=int(os.environ.get(POOL_ENV, "12")),
    )
)


@app.task(name="noop", queue="bench")
async def noop(seq: int) -> None:
    report(seq)

"""What idle workers cost, and what one job enqueued into them costs (issue 17, targets 7 and 8).

    .venv/bin/python -m bench.idle --workers 200

A private PostgreSQL with ``pg_stat_statements`` (initdb in a temporary directory; the shared
server is never reconfigured), one server process (``orchestrator server``), and N long polls
(``wait_seconds`` 20, ``max_jobs`` 1) held open from this process. It reports:

- idle: statements/s on the database (every statement pg_stat_statements counts, BEGIN/COMMIT
  included, minus this script's own), the claim's share of them, and the server's CPU share;
- pickup into N idle workers, then into 1: jobs enqueued one at a time, apart; claim
  statements per job, new database sessions (connection churn), pickup p50/p99 (enqueue call
  to the lease answer in the poller).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from job_orchestrator.verify.launcher import Processes, ServerProcess, ThrowawayCluster

QUEUE = "idle-bench"
OWN_QUERIES = "query NOT LIKE '%pg_stat%'"
CLAIM = "query LIKE '%lazy_commit%'"


class StatsCluster(ThrowawayCluster):
    """A throwaway cluster with pg_stat_statements loaded."""

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=300 -c shared_preload_libraries=pg_stat_statements "
            "-c pg_stat_statements.track_utility=on"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            *("-D", str(self.data), "-o", options, "-l", str(self.dir / "postgres.log")),
            *("-w", "-t", "30", "start"),
        )


@dataclass
class Counts:
    statements: int
    claims: int
    sessions: int


async def counts(dsn: str) -> Counts:
    conn = await asyncpg.connect(dsn)
    try:
        statements = await conn.fetchval(
            f"SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE {OWN_QUERIES}"
        )
        claims = await conn.fetchval(
            f"SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE {CLAIM}"
        )
        sessions = await conn.fetchval(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        )
    finally:
        await conn.close()
    return Counts(int(statements), int(claims), int(sessions))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Pollers:
    """N workers long-polling the queue; each answered lease is timed and completed."""

    url: str
    queue: str = QUEUE
    received: dict[int, float] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    client: httpx.AsyncClient | None = None

    async def start(self, n: int) -> None:
        limits = httpx.Limits(max_connections=n + 20, max_keepalive_connections=n + 20)
        self.client = httpx.AsyncClient(base_url=self.url, timeout=60, limits=limits)
        self.tasks = [asyncio.create_task(self._poll(f"idle-{i}")) for i in range(n)]

    async def _poll(self, worker_id: str) -> None:
        assert self.client is not None
        body = {"worker_id": worker_id, "queues": [self.queue], "max_jobs": 1, "wait_seconds": 20}
        while True:
            response = await self.client.post("/v1/workers/lease", json=body)
            response.raise_for_status()
            for lease in response.json()["leases"]:
                self.received[int(lease["job_id"])] = time.perf_counter()
                await self.client.post(
                    f"/v1/jobs/{lease['job_id']}/complete",
                    json={"lease_token": lease["lease_token"], "result": None},
                )

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.client is not None:
            await self.client.aclose()


async def top_statements(dsn: str, n: int = 6) -> list[str]:
    """The most frequent statements since the last reset (what the figures are made of)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            f"SELECT calls, left(regexp_replace(query, '\\s+', ' ', 'g'), 70) AS q "
            f"FROM pg_stat_statements WHERE {OWN_QUERIES} ORDER BY calls DESC LIMIT {n}"
        )
    finally:
        await conn.close()
    return [f"{r['calls']:>6} {r['q']}" for r in rows]


async def reset_statements(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    await conn.execute("SELECT pg_stat_statements_reset()")
    await conn.close()


async def idle_phase(dsn: str, pid: int, seconds: float) -> dict[str, float]:
    await reset_statements(dsn)
    before, cpu0, t0 = await counts(dsn), cpu_seconds(pid), time.perf_counter()
    await asyncio.sleep(seconds)
    after, cpu1, t1 = await counts(dsn), cpu_seconds(pid), time.perf_counter()
    elapsed = t1 - t0
    return {
        "statements_per_s": (after.statements - before.statements) / elapsed,
        "claims_per_s": (after.claims - before.claims) / elapsed,
        "server_cpu_share": (cpu1 - cpu0) / elapsed,
        "new_sessions": after.sessions - before.sessions,
    }


async def pickup_phase(url: str, dsn: str, pollers: Pollers, jobs: int) -> dict[str, float]:
    await asyncio.sleep(2.0)  # every poll is waiting
    await reset_statements(dsn)
    before = await counts(dsn)
    sent: dict[int, float] = {}
    async with httpx.AsyncClient(base_url=url, timeout=30) as producer:
        for _ in range(jobs):
            started = time.perf_counter()
            response = await producer.post(
                "/v1/jobs", json={"type": "noop", "queue": pollers.queue}
            )
            response.raise_for_status()
            sent[int(response.json()["id"])] = started
            await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)
    after = await counts(dsn)
    pickups = sorted(
        (pollers.received[i] - t) * 1000 for i, t in sent.items() if i in pollers.received
    )
    return {
        "picked_up": len(pickups),
        "claims_per_job": (after.claims - before.claims) / jobs,
        "statements_per_job": (after.statements - before.statements) / jobs,
        "new_sessions": after.sessions - before.sessions,
        "pickup_p50_ms": statistics.median(pickups) if pickups else float("nan"),
        "pickup_p99_ms": pickups[min(len(pickups) - 1, int(len(pickups) * 0.99))]
        if pickups
        else float("nan"),
    }


async def run(workers: int, idle_seconds: float, jobs: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    with StatsCluster() as cluster, Processes(Path(tempfile.mkdtemp())) as processes:
        admin = await asyncpg.connect(cluster.dsn)
        await admin.execute("CREATE DATABASE bench_idle")
        await admin.close()
        dsn = cluster.dsn.rsplit("/", 1)[0] + "/bench_idle"
        conn = await asyncpg.connect(dsn)
        await conn.execute("CREATE EXTENSION pg_stat_statements")
        await conn.close()
        server = ServerProcess(processes, dsn, reaper_interval=None, poll_interval=None)
        server.start(migrate=True)
        assert server.process is not None
        pollers = Pollers(server.url)
        await pollers.start(workers)
        await asyncio.sleep(3.0)
        results[f"idle, {workers} workers"] = await idle_phase(
            dsn, server.process.pid, idle_seconds
        )
        results[f"pickup into {workers}"] = await pickup_phase(server.url, dsn, pollers, jobs)
        print("\n".join(await top_statements(dsn)))
        await pollers.stop()
        # Another queue: the 200 cancelled polls stay in the server until their wait ends.
        one = Pollers(server.url, queue=f"{QUEUE}-one")
        await one.start(1)
        results["pickup into 1"] = await pickup_phase(server.url, dsn, one, jobs)
        print("\n".join(await top_statements(dsn)))
        await one.stop()
        server.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=200)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--jobs", type=int, default=40)
    args = parser.parse_args()
    results = asyncio.run(run(args.workers, args.idle_seconds, args.jobs))
    for phase, figures in results.items():
        shown = ", ".join(f"{k} {v:.3g}" for k, v in figures.items())
        print(f"{phase}: {shown}", file=sys.stdout)


if __name__ == "__main__":
    main()

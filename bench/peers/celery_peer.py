"""Celery with the Redis broker (results off), the worker a real process.

Configured per Celery's docs for many short I/O-free tasks: the threads pool
with concurrency 20, gossip/mingle/heartbeat off, early acks (the default),
the prefetch multiplier tuned below. Celery has no batch-enqueue API: the batch phase
publishes the jobs back to back through one producer connection.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.common import REDIS_URL_BASE, SystemUnderTest, package_version
from bench.cpu import all_pids
from bench.processes import bench_python

BROKER_ENV = "BENCH_CELERY_BROKER"
REDIS_DB = 15  # a database number nobody else here uses; checked empty at setup
QUEUE = "bench"
# Tuned on this machine (threads pool, 20 threads, no-op tasks): 1, 4, 16, 64
# and 128 were tried; 4 (x 20 threads = 80 messages in flight) was fastest.
PREFETCH_MULTIPLIER = 4


def default_broker_url() -> str:
    return f"{REDIS_URL_BASE}/{REDIS_DB}"


def redis_server_pids() -> set[int]:
    pids = set()
    for pid in all_pids():
        try:
            with open(f"/proc/{pid}/comm") as fh:
                if fh.read().strip() == "redis-server":
                    pids.add(pid)
        except OSError:
            continue
    return pids


class CeleryPeer(SystemUnderTest):
    name = "celery"
    executor: ThreadPoolExecutor | None = None

    def config(self) -> dict[str, Any]:
        return {
            "summary": f"threads x {self.workload.workers}, prefetch {PREFETCH_MULTIPLIER}, Redis",
            "version": package_version("celery"),
            "broker": f"Redis {default_broker_url()} (kombu {package_version('kombu')})",
            "results": "off (task_ignore_result, no backend)",
            "pool": "threads",
            "concurrency": self.workload.workers,
            "prefetch_multiplier": PREFETCH_MULTIPLIER,
            "acks": "early (default)",
            "flags": "--without-gossip --without-mingle --without-heartbeat",
            "task": "sync no-op",
            "batch_enqueue": "no batch API: apply_async in a loop on one producer",
        }

    async def unavailable_reason(self) -> str | None:
        for package in ("celery", "redis"):
            if importlib.util.find_spec(package) is None:
                return f"package {package} not installed (see bench/requirements.txt)"
        import redis

        try:
            client = redis.Redis.from_url(default_broker_url(), socket_timeout=3)
            size = int(client.dbsize())
        except redis.RedisError as exc:
            return f"Redis not reachable at {REDIS_URL_BASE} ({exc.__class__.__name__})"
        if size:
            return f"Redis db {REDIS_DB} holds {size} keys that are not ours; not flushing it"
        return None

    async def setup(self) -> None:
        os.environ[BROKER_ENV] = default_broker_url()

    async def teardown(self) -> None:
        await self.purge()

    def extra_cpu_pids(self) -> set[int]:
        return redis_server_pids()

    async def enqueue_many(self, seqs: Sequence[int]) -> None:
        await asyncio.to_thread(_publish_all, seqs)

    async def open_producers(self, producers: int) -> None:
        self.executor = ThreadPoolExecutor(producers, thread_name_prefix="celery-producer")

    async def close_producers(self) -> None:
        if self.executor is not None:
            self.executor.shutdown()
            self.executor = None

    async def enqueue_one(self, seq: int) -> None:
        from bench.peers.celery_app import noop

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.executor, lambda: noop.apply_async((seq,)))

    async def purge(self) -> None:
        import redis

        redis.Redis.from_url(default_broker_url()).flushdb()

    def start_workers(self, workers: int, probe_addr: str) -> None:
        self.workers.spawn(
            [
                bench_python(),
                "-m",
                "celery",
                "--app=bench.peers.celery_app:app",
                "worker",
                "--pool=threads",
                f"--concurrency={workers}",
                f"--prefetch-multiplier={PREFETCH_MULTIPLIER}",
                f"--queues={QUEUE}",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel=WARNING",
            ],
            {"BENCH_PROBE_ADDR": probe_addr, BROKER_ENV: default_broker_url()},
        )


def _publish_all(seqs: Sequence[int]) -> None:
    from bench.peers.celery_app import app, noop

    with app.producer_or_acquire() as producer:
        for seq in seqs:
            noop.apply_async((seq,), producer=producer)

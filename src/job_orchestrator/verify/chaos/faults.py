"""The faults chaos injects and what it records of them: worker generations (each kill
starts a replacement), the PostgreSQL restart with its probe of the API's answers."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from job_orchestrator.verify.chaos.stage import Stage

LEASE_SECONDS = 8.0  # outlasts a PostgreSQL restart: heartbeats fail while it is down
POISON_ATTEMPTS = 3
KILL_EVERY = 2.5


@dataclass
class WorkerSlot:
    index: int
    url: str
    generation: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def worker_id(self) -> str:
        return f"chaos-w{self.index}-g{self.generation}"


@dataclass
class Faults:
    killed: set[str] = field(default_factory=set)  # SIGKILLed by us
    died: set[str] = field(default_factory=set)  # died on their own (the poison job)
    worker_kills: int = 0
    api_kills: list[tuple[float, str]] = field(default_factory=list)  # (time, url)
    api_workers: dict[str, set[str]] = field(default_factory=dict)  # url -> worker ids
    outages: list[tuple[float, float]] = field(default_factory=list)
    outage_answers: Counter[str] = field(default_factory=Counter)
    skipped: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.worker_kills + len(self.api_kills) + len(self.outages) + len(self.died)


async def restart_postgres(stage: Stage, queue: str, faults: Faults, accepted: set[str]) -> None:
    """Stop the cluster, keep it down ~1.5 s, start it; probe the API all along."""
    assert stage.cluster is not None
    cluster = stage.cluster
    down = asyncio.Event()
    back = asyncio.Event()

    async def probe() -> None:
        async with httpx.AsyncClient(timeout=5) as http:
            body = {
                "type": "effect",
                "queue": queue,
                "payload": {"value": 0, "ms": 1},
                "lease_seconds": LEASE_SECONDS,
                "max_attempts": 20,
            }
            for _ in range(2000):  # bounded: 2000 rounds of 50 ms
                for url in stage.urls:
                    for method, path in (
                        ("GET", f"/v1/jobs?queue={queue}&limit=1"),
                        ("POST", "/v1/jobs"),
                        ("GET", "/readyz"),
                    ):
                        try:
                            response = await http.request(
                                method, url + path, json=body if method == "POST" else None
                            )
                        except httpx.TransportError:
                            faults.outage_answers["no answer"] += 1
                            continue
                        if down.is_set():
                            faults.outage_answers[str(response.status_code)] += 1
                        if response.status_code == 201:
                            accepted.add(response.json()["id"])
                if back.is_set():
                    return
                await asyncio.sleep(0.05)

    prober = asyncio.create_task(probe())
    try:
        await asyncio.sleep(0.3)
        began = time.time()
        down.set()
        await asyncio.to_thread(cluster.stop, "fast")
        await asyncio.sleep(1.5)
        await asyncio.to_thread(cluster.start)
        for _ in range(300):  # until every API process answers ready again (30 s at most)
            async with httpx.AsyncClient(timeout=2) as http:
                statuses = []
                for url in stage.urls:
                    with contextlib.suppress(httpx.TransportError):
                        statuses.append((await http.get(url + "/readyz")).status_code)
            if statuses == [200] * len(stage.urls):
                break
            await asyncio.sleep(0.1)
        faults.outages.append((began, time.time()))
        await asyncio.sleep(0.5)
        back.set()
        await asyncio.wait_for(prober, timeout=30)
    finally:
        prober.cancel()
        await asyncio.gather(prober, return_exceptions=True)

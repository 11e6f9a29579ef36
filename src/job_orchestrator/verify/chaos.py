"""Chaos: N jobs through W worker processes while faults are injected, then the invariants.

Faults (each only where the suite owns what it breaks):
- SIGKILL a random quarter of the workers every few seconds, and start replacements;
- SIGKILL one of two API server processes sharing the database, and restart it;
- restart PostgreSQL mid-run, on a throwaway cluster of our own (initdb/pg_ctl in a temporary
  directory), while a probe records what the API answers during the outage;
- a poison job whose handler SIGKILLs its own worker (every worker that takes it dies).
Invariants: no lost job (every accepted job terminal), no duplicate effect in the ledger,
attempts numbered 1..n and never above max_attempts, no two overlapping leases, the poison job
in ``dlq`` after exactly ``max_attempts`` claims, no attempt burnt by the outage (every attempt
that did not succeed belongs to a worker we killed), and API answers during the outage 503,
never 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from job_orchestrator.verify.api import Api, ts
from job_orchestrator.verify.checks import Findings, check_histories, check_ledger
from job_orchestrator.verify.launcher import (
    PostgresDatabase,
    ServerProcess,
    ThrowawayCluster,
    admin,
)
from job_orchestrator.verify.scenarios import Outcome, Run

LEASE_SECONDS = 8.0  # outlasts a PostgreSQL restart: heartbeats fail while it is down
POISON_ATTEMPTS = 3
KILL_EVERY = 2.5


class Options(Protocol):
    jobs: int | None
    workers: int | None
    duration: float | None


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


@dataclass
class Stage:
    """Where the chaos runs: its API servers and, when ours, the PostgreSQL cluster."""

    urls: list[str]
    servers: list[ServerProcess] = field(default_factory=list)
    cluster: ThrowawayCluster | None = None
    database: PostgresDatabase | None = None


def _stage(run: Run, faults: Faults) -> Stage:
    if run.server is None:
        faults.skipped.append("API kill and PostgreSQL restart skipped: --url deployment")
        return Stage(urls=[run.url])
    if run.backend == "sqlite":
        faults.skipped.append("PostgreSQL restart n/a on SQLite (one API process)")
        return Stage(urls=[run.url], servers=[run.server])
    database_url = run.database_url or ""
    cluster: ThrowawayCluster | None = None
    try:
        cluster = ThrowawayCluster().__enter__()
        admin(cluster.dsn, 'CREATE DATABASE "jo_verify_chaos"')
        database_url = f"{cluster.dsn.rsplit('/', 1)[0]}/jo_verify_chaos"
    except Exception as error:
        if cluster is not None:
            cluster.destroy()
            cluster = None
        faults.skipped.append(f"PostgreSQL restart skipped: no throwaway cluster ({error})")
    servers = [ServerProcess(run.processes, database_url, name=f"chaos-api-{i}") for i in (1, 2)]
    try:
        servers[0].start(migrate=True)
        servers[1].start(migrate=False)
    except BaseException:
        for server in servers:
            server.kill()
        if cluster is not None:
            cluster.destroy()
        raise
    return Stage(urls=[s.url for s in servers], servers=servers, cluster=cluster)


def _teardown(run: Run, stage: Stage) -> None:
    if stage.cluster is None:
        return  # the servers are the run's own (SQLite, --url) or live on the run's database
    for server in stage.servers:
        if server.process is not None:
            run.processes.stop(server.process)
    stage.cluster.destroy()


async def chaos(run: Run, api: Api, options: Options) -> Outcome:
    out = Outcome()
    faults = Faults()
    stage = await asyncio.to_thread(_stage, run, faults)
    try:
        await _chaos(run, stage, faults, out, options)
    finally:
        await asyncio.to_thread(_teardown, run, stage)
    return out


async def _chaos(run: Run, stage: Stage, faults: Faults, out: Outcome, options: Options) -> None:
    n = options.jobs or run.sizes.chaos_jobs
    w = options.workers or run.sizes.chaos_workers
    duration = options.duration or run.sizes.chaos_duration
    queue, ledger = run.queue("chaos"), run.ledger("chaos")
    rng = random.Random(run.run_id)
    apis = [Api(url) for url in stage.urls]
    api = apis[0]
    f = out.findings
    started = time.monotonic()
    try:
        retry = {"initial_seconds": 0.2, "multiplier": 2, "max_seconds": 1, "jitter": False}
        specs: list[dict[str, Any]] = [
            {
                "type": "effect",
                "queue": queue,
                "payload": {"value": i, "ms": rng.randint(50, 400)},
                "lease_seconds": LEASE_SECONDS,
                "max_attempts": 20,
                "retry": retry,
            }
            for i in range(n)
        ]
        poison_at = rng.randrange(n // 4, n // 2 + 1)
        specs.insert(
            poison_at,
            {
                "type": "poison",
                "queue": queue,
                "payload": {"value": -1},
                "lease_seconds": 2,
                "max_attempts": POISON_ATTEMPTS,
                "retry": retry,
            },
        )
        created = await api.enqueue_batch(specs)
        accepted = {job["id"] for job in created}
        poison_id = created[poison_at]["id"]

        slots = [WorkerSlot(i, stage.urls[i % len(stage.urls)]) for i in range(w)]

        def start(slot: WorkerSlot) -> None:
            slot.process = run.worker(queue, ledger, slot.worker_id, concurrency=4, url=slot.url)
            faults.api_workers.setdefault(slot.url, set()).add(slot.worker_id)

        def replace(slot: WorkerSlot) -> None:
            slot.generation += 1
            start(slot)

        for slot in slots:
            start(slot)

        async def supervise() -> None:
            """Restart workers that died on their own (the poison job)."""
            while True:
                for slot in slots:
                    status = None if slot.process is None else slot.process.poll()
                    if status is not None:
                        if slot.worker_id not in faults.killed:
                            faults.died.add(slot.worker_id)
                        if status != -signal.SIGKILL:  # the poison SIGKILLs; nothing else may
                            f.add(f"worker {slot.worker_id} exited by itself with {status}")
                        replace(slot)
                await asyncio.sleep(0.2)

        async def kill_workers() -> None:
            while time.monotonic() - started < duration:
                await asyncio.sleep(KILL_EVERY)
                for slot in rng.sample(slots, max(1, len(slots) // 4)):
                    if slot.process is None or slot.process.poll() is not None:
                        continue
                    faults.killed.add(slot.worker_id)
                    run.processes.kill(slot.process)
                    faults.worker_kills += 1
                    replace(slot)

        supervisor = asyncio.create_task(supervise())
        killer = asyncio.create_task(kill_workers())
        try:
            await asyncio.sleep(2.0)
            if len(stage.servers) >= 2 or (stage.servers and run.backend == "sqlite"):
                victim = stage.servers[-1]
                faults.api_kills.append((time.time(), victim.url))
                await asyncio.to_thread(victim.restart)
            if stage.cluster is not None:
                await asyncio.sleep(2.0)
                await _restart_postgres(stage, queue, faults, accepted)
            remaining = max(30.0, duration - (time.monotonic() - started))
            finished = await api.wait_quiet(queue, within=remaining + 30)
        finally:
            killer.cancel()
            supervisor.cancel()
            await asyncio.gather(killer, supervisor, return_exceptions=True)
            for slot in slots:
                if slot.process is not None and run.processes.stop(slot.process) not in (
                    None,
                    -signal.SIGKILL,
                ):
                    f.add(f"worker {slot.worker_id} exited by itself")
        if not finished:
            f.add(f"not every job was terminal {time.monotonic() - started:.0f} s after the start")
        jobs, histories = await _collect(api, queue)
        out.jobs = len(accepted)
        _check(jobs, histories, accepted, poison_id, faults, f)
        figures = check_ledger(
            jobs,
            histories,
            ledger.records(),
            f,
            killed_workers=frozenset(faults.killed | faults.died),
            excused_attempts=frozenset(
                (job_id, int(a["attempt"]))
                for job_id, attempts in histories.items()
                for a in attempts
                if a["outcome"] not in ("succeeded", None) and stranded_by_api_kill(a, faults)
            ),
        )
        out.faults = faults.total
        answers = ", ".join(f"{k}x{v}" for k, v in sorted(faults.outage_answers.items()))
        out.notes.append(
            f"{faults.worker_kills} worker kills, {len(faults.api_kills)} API kill, "
            f"{len(faults.outages)} PG restart"
            + (
                f" ({faults.outages[0][1] - faults.outages[0][0]:.1f} s, answers {answers})"
                if faults.outages
                else ""
            )
            + f", {len(faults.died)} poisoned; {figures['reruns']} re-runs"
        )
        out.notes.extend(faults.skipped)
    finally:
        for client in apis:
            await client.close()


async def _collect(
    api: Api, queue: str
) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    for _ in range(20):  # the servers may still be recovering: ask again
        try:
            jobs = await api.jobs(queue)
            return jobs, await api.histories(jobs)
        except (httpx.TransportError, RuntimeError):
            await asyncio.sleep(1)
    jobs = await api.jobs(queue)
    return jobs, await api.histories(jobs)


async def _restart_postgres(stage: Stage, queue: str, faults: Faults, accepted: set[str]) -> None:
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


def _check(
    jobs: list[dict[str, Any]],
    histories: dict[str, list[dict[str, Any]]],
    accepted: set[str],
    poison_id: str,
    faults: Faults,
    f: Findings,
) -> None:
    by_id = {job["id"]: job for job in jobs}
    lost = [
        i
        for i in accepted
        if i not in by_id or by_id[i]["state"] not in ("succeeded", "dlq", "cancelled")
    ]
    for job_id in lost[:10]:
        f.add(f"lost job {job_id}: {by_id[job_id]['state'] if job_id in by_id else 'missing'}")
    if len(lost) > 10:
        f.add(f"… {len(lost)} lost jobs in all")
    check_histories(jobs, histories, f)
    # The poison job: dlq after exactly max_attempts claims, each one's worker died.
    poison = by_id.get(poison_id)
    attempts = histories.get(poison_id, [])
    outcomes = [a["outcome"] for a in attempts]
    if (
        poison is None
        or poison["state"] != "dlq"
        or outcomes != ["lease_expired"] * POISON_ATTEMPTS
    ):
        f.add(
            f"poison job: {poison and poison['state']} with attempts {outcomes}; expected dlq "
            f"after exactly {POISON_ATTEMPTS} lease_expired claims"
        )
    for a in attempts:
        if a["worker_id"] not in faults.died | faults.killed:
            f.add(f"poison job attempt {a['attempt']} on {a['worker_id']}, which did not die")
    # Every other job succeeded, and every attempt that did not succeed was on a worker we
    # killed (or that the poison killed), or was stranded by the API process we killed: none
    # may be burnt by the database outage.
    killed = faults.killed | faults.died
    for job in jobs:
        if job["id"] == poison_id:
            continue
        if job["state"] != "succeeded":
            f.add(f"job {job['id']} ended {job['state']} ({job['last_error']})")
        for a in histories.get(job["id"], []):
            if a["outcome"] in ("succeeded", None) or a["worker_id"] in killed:
                continue
            if stranded_by_api_kill(a, faults):
                continue
            leased = ts(a["leased_at"]).timestamp()
            during = any(
                start - LEASE_SECONDS <= leased <= end + 1 for start, end in faults.outages
            )
            f.add(
                f"job {job['id']} attempt {a['attempt']} on live worker {a['worker_id']} "
                f"ended {a['outcome']}" + (" (burnt by the database outage)" if during else "")
            )
    # API answers while the database was down: 503, never a 500.
    bad = {
        k: v
        for k, v in faults.outage_answers.items()
        if k not in ("503", "no answer") and int(k) >= 500
    }
    if bad:
        f.add(f"API answers during the outage included {bad}; expected 503 only")
    if faults.outages and faults.outage_answers.get("503", 0) == 0:
        f.add("the database outage was not observed: no 503 from the API")


def stranded_by_api_kill(attempt: dict[str, Any], faults: Faults) -> bool:
    """An attempt open when we SIGKILLed the API process its worker talks to.

    Its worker could neither heartbeat nor complete until that process came back, so its lease
    may rightly run out and the job run again elsewhere: at-least-once, not a lost attempt.
    (Local time against the database clock: valid because both run on this host.)
    """
    leased = ts(attempt["leased_at"]).timestamp()
    finished = ts(attempt["finished_at"]).timestamp() if attempt.get("finished_at") else None
    return any(
        attempt["worker_id"] in faults.api_workers.get(url, set())
        and leased <= at + 1.5
        and (finished is None or finished >= at)
        for at, url in faults.api_kills
    )

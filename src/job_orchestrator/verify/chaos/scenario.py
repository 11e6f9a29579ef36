"""The chaos scenario: enqueue, run the workers, inject the faults on schedule, then check."""

from __future__ import annotations

import asyncio
import random
import signal
import time
from typing import Any, Protocol

import httpx

from job_orchestrator.verify.api import Api
from job_orchestrator.verify.chaos.checks import check_chaos, stranded_by_api_kill
from job_orchestrator.verify.chaos.faults import (
    KILL_EVERY,
    LEASE_SECONDS,
    POISON_ATTEMPTS,
    Faults,
    WorkerSlot,
    restart_postgres,
)
from job_orchestrator.verify.chaos.retention import RetentionWatch, restore_deleted
from job_orchestrator.verify.chaos.stage import Stage, set_stage, tear_down
from job_orchestrator.verify.checks import check_ledger
from job_orchestrator.verify.scenarios import Outcome, Run


class Options(Protocol):
    jobs: int | None
    workers: int | None
    duration: float | None


async def chaos(run: Run, api: Api, options: Options) -> Outcome:
    out = Outcome()
    faults = Faults()
    stage = await asyncio.to_thread(set_stage, run, faults)
    try:
        await _chaos(run, stage, faults, out, options)
    finally:
        await asyncio.to_thread(tear_down, run, stage)
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
        watch = RetentionWatch(api, queue)
        watcher = asyncio.create_task(watch.run()) if stage.retention else None
        try:
            await asyncio.sleep(2.0)
            if len(stage.servers) >= 2 or (stage.servers and run.backend == "sqlite"):
                victim = stage.servers[-1]
                faults.api_kills.append((time.time(), victim.url))
                await asyncio.to_thread(victim.restart)
            if stage.cluster is not None:
                await asyncio.sleep(2.0)
                await restart_postgres(stage, queue, faults, accepted)
            remaining = max(30.0, duration - (time.monotonic() - started))
            finished = await api.wait_quiet(queue, within=remaining + 30)
        finally:
            killer.cancel()
            supervisor.cancel()
            await asyncio.gather(killer, supervisor, return_exceptions=True)
            if watcher is not None:
                await asyncio.sleep(1.0)  # one more look at the last jobs to finish
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
            for slot in slots:
                if slot.process is not None and run.processes.stop(slot.process) not in (
                    None,
                    -signal.SIGKILL,
                ):
                    f.add(f"worker {slot.worker_id} exited by itself")
        if not finished:
            f.add(f"not every job was terminal {time.monotonic() - started:.0f} s after the start")
        jobs, histories = await _collect(api, queue)
        records = ledger.records()
        if watcher is not None:
            deleted = int((await api.ok("GET", "/v1/metrics"))["totals"].get("deleted", 0))
            jobs, histories, records, accepted, note = restore_deleted(
                watch, jobs, histories, accepted, records, deleted, f
            )
            out.notes.append(note)
        else:
            out.notes.append("retention not exercised: the chaos runs on the run's own server")
        out.jobs = len(accepted)
        check_chaos(jobs, histories, accepted, poison_id, faults, f)
        figures = check_ledger(
            jobs,
            histories,
            records,
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

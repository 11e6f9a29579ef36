"""The lease_expiry scenario: a SIGKILLed worker's job is re-leased after expiry and completed."""

from __future__ import annotations

import asyncio
import time

from job_orchestrator.verify.api import Api, ts
from job_orchestrator.verify.checks import check_histories, check_ledger
from job_orchestrator.verify.scenarios.common import (
    Outcome,
    Run,
    collect,
    scenario,
    slack,
    wait_for,
)


@scenario("lease_expiry", "a SIGKILLed worker's job is re-leased after expiry and completed")
async def lease_expiry(run: Run, api: Api) -> Outcome:
    out = Outcome()
    queue, ledger = run.queue("lease"), run.ledger("lease")
    lease_seconds = 2.0
    created = await api.enqueue_batch(
        [
            {
                "type": "slow",
                "queue": queue,
                "payload": {"value": i, "seconds": 3},
                "lease_seconds": lease_seconds,
                "max_attempts": 3,
                "retry": {
                    "initial_seconds": 0.2,
                    "multiplier": 2,
                    "max_seconds": 1,
                    "jitter": False,
                },
            }
            for i in range(3)
        ]
    )
    out.jobs = len(created)
    doomed = f"lease-{run.run_id}-doomed"
    rescuer = f"lease-{run.run_id}-rescuer"
    victim = run.worker(queue, ledger, doomed, concurrency=3)

    async def all_started() -> bool:
        return sum(1 for r in ledger.records() if r.kind == "start") >= len(created)

    f = out.findings
    if not await wait_for(all_started, within=30):
        f.add("worker A never started the jobs")
    await asyncio.sleep(0.6)  # mid-job, with a heartbeat or two behind it
    killed_at = time.time()
    run.processes.kill(victim)
    out.faults = 1
    helper = run.worker(queue, ledger, rescuer, concurrency=3)
    finished = await api.wait_quiet(queue, within=40)
    run.stop_workers(f, helper)
    if not finished:
        f.add("the jobs were not terminal within 40 s of the kill")
    jobs, histories = await collect(api, queue)
    delays = []
    for job in jobs:
        attempts = histories[job["id"]]
        shape = [(a["outcome"], a["worker_id"]) for a in attempts]
        if job["state"] != "succeeded" or shape != [
            ("lease_expired", doomed),
            ("succeeded", rescuer),
        ]:
            f.add(
                f"job {job['id']} is {job['state']} with attempts {shape}; expected "
                "lease_expired on the killed worker, then succeeded on the other"
            )
            continue
        expired = ts(attempts[0]["finished_at"]).timestamp()
        delays.append(expired - killed_at)
        # The lease was kept by heartbeats until the kill: it cannot end before the kill, and
        # ends about lease_seconds after the last heartbeat.
        if expired < killed_at - 0.5:
            f.add(f"job {job['id']}: lease reaped {killed_at - expired:.2f} s before the kill")
        if expired > killed_at + lease_seconds + slack(run):
            f.add(f"job {job['id']}: lease reaped {expired - killed_at:.2f} s after the kill")
    check_histories(jobs, histories, f)
    check_ledger(jobs, histories, ledger.records(), f, killed_workers=frozenset({doomed}))
    if delays:
        out.notes.append(
            f"re-leased {min(delays):.1f}-{max(delays):.1f} s after SIGKILL "
            f"(lease {lease_seconds:g} s)"
        )
    return out

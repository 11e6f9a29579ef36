"""The execution_timeout scenario: a hanging, heartbeating handler is timed out at its deadline."""

from __future__ import annotations

from job_orchestrator.verify.api import Api
from job_orchestrator.verify.checks import check_histories
from job_orchestrator.verify.scenarios.common import (
    Outcome,
    Run,
    collect,
    scenario,
    seconds_between,
    slack,
)


@scenario("execution_timeout", "a hanging, heartbeating handler is timed out at its deadline")
async def execution_timeout(run: Run, api: Api) -> Outcome:
    out = Outcome()
    queue, ledger = run.queue("timeout"), run.ledger("timeout")
    timeout = 1.5
    created = await api.enqueue_batch(
        [
            {
                "type": "hang",
                "queue": queue,
                "payload": {"value": i},
                "timeout_seconds": timeout,
                "lease_seconds": 1,
                "max_attempts": 2,
                "retry": {
                    "initial_seconds": 0.2,
                    "multiplier": 2,
                    "max_seconds": 1,
                    "jitter": False,
                },
            }
            for i in range(2)
        ]
    )
    out.jobs = len(created)
    worker = run.worker(queue, ledger, f"timeout-{run.run_id}")
    f = out.findings
    try:
        if not await api.wait_quiet(queue, within=30):
            f.add("the hanging jobs were not terminal within 30 s")
    finally:
        run.stop_workers(f, worker)
    jobs, histories = await collect(api, queue)
    durations: list[float] = []
    for job in jobs:
        attempts = histories[job["id"]]
        outcomes = [a["outcome"] for a in attempts]
        if job["state"] != "dlq" or outcomes != ["timed_out", "timed_out"]:
            f.add(
                f"job {job['id']} is {job['state']} with attempts {outcomes}; expected "
                "timed_out, retried, timed_out, dlq"
            )
        for a in attempts:
            if a["finished_at"] is None:
                continue
            ran = seconds_between(a["leased_at"], a["finished_at"])
            durations.append(ran)
            if ran < timeout - 0.05 or ran > timeout + slack(run):
                f.add(
                    f"job {job['id']} attempt {a['attempt']} ended after {ran:.2f} s; "
                    f"its timeout is {timeout} s"
                )
    starts = ledger.by_job("start")
    for job in jobs:
        if len(starts.get(job["id"], [])) != 2:
            f.add(f"job {job['id']}: {len(starts.get(job['id'], []))} handler runs, expected 2")
    if ledger.by_job("effect"):
        f.add("a hanging handler applied an effect")
    check_histories(jobs, histories, f)
    if durations:
        out.notes.append(
            f"timed out after {min(durations):.2f}-{max(durations):.2f} s (timeout {timeout} s)"
        )
    return out

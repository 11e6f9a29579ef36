"""The no_double_claim scenario: many workers, thousands of jobs, one lease at a time, one
effect each."""

from __future__ import annotations

import asyncio

from job_orchestrator.verify.api import Api
from job_orchestrator.verify.checks import check_histories, check_ledger
from job_orchestrator.verify.scenarios.common import Outcome, Run, collect, scenario


@scenario("no_double_claim", "many workers, thousands of jobs: one lease at a time, one effect")
async def no_double_claim(run: Run, api: Api) -> Outcome:
    out = Outcome()
    queue, ledger = run.queue("claim"), run.ledger("claim")
    n, w = run.sizes.claim_jobs, run.sizes.claim_workers
    workers = [
        run.worker(queue, ledger, f"claim-{run.run_id}-{i}", concurrency=8) for i in range(w)
    ]
    await asyncio.sleep(1.0)  # workers waiting in long polls when the jobs land: maximum race
    created = await api.enqueue_batch(
        [{"type": "effect", "queue": queue, "payload": {"value": i, "ms": i % 3}} for i in range(n)]
    )
    out.jobs = len(created)
    finished = await api.wait_quiet(queue, within=60 + n / 15)
    f = out.findings
    run.stop_workers(f, *workers)
    jobs, histories = await collect(api, queue)
    if not finished:
        f.add("not every job was terminal within the time limit")
    if len(jobs) != n:
        f.add(f"{len(jobs)} jobs in the queue, {n} enqueued")
    for job in jobs:
        if job["state"] != "succeeded" or job["attempts"] != 1:
            f.add(
                f"job {job['id']} is {job['state']} after {job['attempts']} attempts "
                "(no fault was injected: expected succeeded after 1)"
            )
    check_histories(jobs, histories, f)
    figures = check_ledger(jobs, histories, ledger.records(), f, exactly_once=True)
    workers_used = {a["worker_id"] for h in histories.values() for a in h}
    out.notes.append(f"{figures['effects']} effects over {len(workers_used)} workers")
    return out

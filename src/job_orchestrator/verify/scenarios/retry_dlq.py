"""The retry_dlq scenario: backoff measured from attempts, DLQ after max_attempts, redrive."""

from __future__ import annotations

import itertools

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


@scenario("retry_dlq", "backoff measured from attempts, DLQ after max_attempts, redrive")
async def retry_dlq(run: Run, api: Api) -> Outcome:
    out = Outcome()
    queue, ledger = run.queue("retry"), run.ledger("retry")
    switch = run.workdir / f"{queue}.switch"
    policy = {"initial_seconds": 0.3, "multiplier": 2.0, "max_seconds": 1.0, "jitter": False}
    max_attempts = 4
    created = await api.enqueue_batch(
        [
            {
                "type": "fail",
                "queue": queue,
                "payload": {"value": i, "until": str(switch)},
                "max_attempts": max_attempts,
                "retry": policy,
            }
            for i in range(2)
        ]
    )
    out.jobs = len(created)
    worker = run.worker(queue, ledger, f"retry-{run.run_id}")
    f = out.findings
    try:
        if not await api.wait_quiet(queue, within=30):
            f.add("the failing jobs did not reach a terminal state within 30 s")
        jobs, histories = await collect(api, queue)
        gaps: list[float] = []
        for job in jobs:
            attempts = histories[job["id"]]
            outcomes = [a["outcome"] for a in attempts]
            if job["state"] != "dlq" or outcomes != ["failed"] * max_attempts:
                f.add(
                    f"job {job['id']} is {job['state']} with attempts {outcomes}; expected "
                    f"dlq after exactly {max_attempts} failed attempts"
                )
            for n, (a, b) in enumerate(itertools.pairwise(attempts), start=1):
                expected = min(
                    policy["max_seconds"],
                    policy["initial_seconds"] * policy["multiplier"] ** (n - 1),
                )
                gap = seconds_between(a["finished_at"], b["leased_at"])
                gaps.append(gap)
                if gap < expected - 0.05 or gap > expected + slack(run):
                    f.add(
                        f"job {job['id']}: {gap:.2f} s before attempt {n + 1}, backoff "
                        f"says {expected:.2f} s"
                    )
            error = job.get("last_error") or {}
            if "fails on purpose" not in str(error.get("message", "")):
                f.add(f"job {job['id']}: last_error {error} lacks the handler's message")
        check_histories(jobs, histories, f)
        out.notes.append("gaps " + ", ".join(f"{g:.2f}" for g in gaps[:3]) + " s (0.3, 0.6, 1.0)")
        # Redrive: one job by its id, the other through the DLQ endpoint.
        switch.touch()
        first, second = created[0]["id"], created[1]["id"]
        status, body = await api.call("POST", f"/v1/jobs/{first}/retry")
        if status != 200 or body.get("state") != "pending":
            f.add(f"retry of a dlq job answered {status} {body}")
        status, body = await api.call("POST", "/v1/dlq/redrive", {"queue": queue})
        if status != 200 or body.get("redriven") != 1:
            f.add(f"dlq redrive answered {status} {body}; expected 1 redriven")
        status, body = await api.call("POST", f"/v1/jobs/{second}/retry")
        if status == 200:
            f.add("retry of a job that is not in dlq or cancelled was accepted")
        if not await api.wait_quiet(queue, within=30):
            f.add("the redriven jobs did not finish within 30 s")
    finally:
        run.stop_workers(f, worker)
    jobs, histories = await collect(api, queue)
    for job in jobs:
        if job["state"] != "succeeded" or job["attempts"] != 1:
            f.add(
                f"redriven job {job['id']} is {job['state']} after {job['attempts']} attempts "
                "(a fresh budget, then success)"
            )
    redriven = frozenset(j["id"] for j in jobs)
    check_histories(jobs, histories, f, redriven=redriven)
    effects = ledger.by_job("effect")
    for job in jobs:
        if len(effects.get(job["id"], [])) != 1:
            f.add(f"job {job['id']}: {len(effects.get(job['id'], []))} effects, expected 1")
    return out

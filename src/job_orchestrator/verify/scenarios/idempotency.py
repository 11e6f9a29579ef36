"""The idempotency scenario: one key one job; complete replays; a stale worker gets 409."""

from __future__ import annotations

import asyncio

from job_orchestrator.verify.api import Api
from job_orchestrator.verify.checks import check_histories, check_ledger
from job_orchestrator.verify.scenarios.common import (
    Outcome,
    Run,
    collect,
    scenario,
    slack,
    wait_for,
)


@scenario("idempotency", "one key one job; complete replays; a stale worker gets 409")
async def idempotency(run: Run, api: Api) -> Outcome:
    out = Outcome()
    f = out.findings
    queue, ledger = run.queue("idem"), run.ledger("idem")
    # 1. Duplicate enqueues with one key, concurrently: one job.
    key = f"{queue}-key"
    body = {"type": "effect", "queue": queue, "payload": {"value": 7}, "idempotency_key": key}
    answers = await asyncio.gather(*(api.call("POST", "/v1/jobs", body) for _ in range(10)))
    statuses = sorted(status for status, _ in answers)
    ids = {data["id"] for status, data in answers if status in (200, 201)}
    if statuses.count(201) != 1 or statuses.count(200) != 9 or len(ids) != 1:
        f.add(
            f"10 enqueues with one key answered {statuses} with ids {sorted(ids)}; "
            "expected one 201, nine 200, one id"
        )
    status, data = await api.call("POST", "/v1/jobs", {**body, "payload": {"value": 8}})
    if status != 409 or (data or {}).get("error", {}).get("code") != "idempotency_conflict":
        f.add(f"the key with another body answered {status} {data}")
    # The job runs once through a real worker; the key again afterwards still names it.
    worker = run.worker(queue, ledger, f"idem-{run.run_id}")
    try:
        if not await api.wait_quiet(queue, within=30):
            f.add("the keyed job did not finish within 30 s")
    finally:
        run.stop_workers(f, worker)
    status, again = await api.call("POST", "/v1/jobs", body)
    if status != 200 or again.get("id") not in ids or again.get("state") != "succeeded":
        f.add(f"the key after completion answered {status} {again}")
    jobs, histories = await collect(api, queue)
    if len(jobs) != 1:
        f.add(f"{len(jobs)} jobs in the queue after 11 enqueues with one key")
    check_histories(jobs, histories, f)
    check_ledger(jobs, histories, ledger.records(), f, exactly_once=True)

    # 2. A stale worker, by hand: lease, let the lease expire, someone else leases it.
    stale_queue = run.queue("stale")
    job = await api.ok(
        "POST",
        "/v1/jobs",
        {"type": "effect", "queue": stale_queue, "lease_seconds": 2, "max_attempts": 5},
    )
    job_id = job["id"]
    out.jobs = len(jobs) + 1
    stale = await api.lease("verify-stale-worker", stale_queue)
    if len(stale) != 1:
        f.add(f"leasing the job gave {len(stale)} leases")
        return out
    stale_token = stale[0]["lease_token"]

    async def expired() -> bool:
        attempts = await api.attempts(job_id)
        return bool(attempts) and attempts[0]["outcome"] == "lease_expired"

    if not await wait_for(expired, within=2 + slack(run) + 5, interval=0.2):
        f.add("the unrenewed lease did not expire")
        return out
    current = await api.lease("verify-current-worker", stale_queue, wait=5)
    if len(current) != 1 or current[0]["attempt"] != 2:
        f.add(f"the expired job was not leased again as attempt 2: {current}")
        return out
    token = current[0]["lease_token"]
    out.faults = 1
    await api.ok("POST", f"/v1/jobs/{job_id}/heartbeat", {"lease_token": token})
    before = await api.job(job_id)
    stale_calls = {
        "complete": {"lease_token": stale_token, "result": {"stale": True}},
        "heartbeat": {"lease_token": stale_token},
        "fail": {
            "lease_token": stale_token,
            "error": {"message": "stale", "type": "Stale", "retryable": True},
        },
    }
    for action, payload in stale_calls.items():
        status, data = await api.call("POST", f"/v1/jobs/{job_id}/{action}", payload)
        code = (data or {}).get("error", {}).get("code") if isinstance(data, dict) else None
        if status != 409 or code != "lease_lost":
            f.add(f"a stale worker's {action} answered {status} {code}; expected 409 lease_lost")
    after = await api.job(job_id)
    unchanged = ("state", "attempts", "result", "lease_expires_at", "last_error")
    if any(before[k] != after[k] for k in unchanged if k != "lease_expires_at"):
        f.add(f"the stale calls changed the job: {[(k, before[k], after[k]) for k in unchanged]}")
    # 3. Completes: the holder's, its replay, another key, the stale worker's again.
    result = {"value": 2, "by": "current"}
    done = {"lease_token": token, "result": result, "idempotency_key": "done-1"}
    status, first = await api.call("POST", f"/v1/jobs/{job_id}/complete", done)
    if status != 200 or first.get("state") != "succeeded" or first.get("result") != result:
        f.add(f"the lease holder's complete answered {status} {first}")
    status, replay = await api.call("POST", f"/v1/jobs/{job_id}/complete", done)
    if status != 200 or replay.get("result") != result:
        f.add(f"a duplicate complete answered {status} {replay}; expected 200, stored result")
    other = {**done, "idempotency_key": "done-2", "result": {"other": True}}
    status, data = await api.call("POST", f"/v1/jobs/{job_id}/complete", other)
    error = (data or {}).get("error", {})
    if (
        status != 409
        or error.get("code") != "already_completed"
        or (error.get("details") or {}).get("result") != result
    ):
        f.add(f"a complete with another key answered {status} {data}")
    status, data = await api.call("POST", f"/v1/jobs/{job_id}/complete", stale_calls["complete"])
    if status != 409:
        f.add(f"the stale worker's complete after success answered {status}")
    final = await api.job(job_id)
    if final["result"] != result or final["state"] != "succeeded":
        f.add(f"the stored result changed: {final['state']} {final['result']}")
    attempts = await api.attempts(job_id)
    shape = [(a["outcome"], a["worker_id"]) for a in attempts]
    if shape != [("lease_expired", "verify-stale-worker"), ("succeeded", "verify-current-worker")]:
        f.add(f"attempt history {shape}")
    if not f.count:
        out.notes.append("11 enqueues, 1 job; stale complete/heartbeat/fail refused; replay 200")
    return out

"""The chaos run's own invariants, on top of the shared history and ledger checks: no lost
job, the poison job in ``dlq``, no attempt burnt by the outage, 503 and never 500 meanwhile."""

from __future__ import annotations

from typing import Any

from job_orchestrator.verify.api import ts
from job_orchestrator.verify.chaos.faults import LEASE_SECONDS, POISON_ATTEMPTS, Faults
from job_orchestrator.verify.checks import Findings, check_histories


def check_chaos(
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

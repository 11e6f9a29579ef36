"""The invariant checker: the server's attempt history against itself and against the ledger.

Attempt history invariants (server timestamps, from the database clock):
  attempts numbered 1..n with no gap or repeat, n equal to the job's ``attempts`` and at most
  ``max_attempts``; at most one attempt open (the last, and only while the job is leased); no
  two attempts of a job overlap in [leased_at, finished_at) -- an attempt's lease lasts at most
  until its ``finished_at``, so this is "never two unexpired leases at once".
Ledger invariants (what the handlers actually did):
  every record names an attempt the server handed to that very worker; a succeeded job has
  exactly one effect from its succeeded attempt; no (job, attempt) applies its effect twice; an
  effect from an attempt that did not succeed is allowed only when its worker was killed (an
  at-least-once re-run), and not at all when ``exactly_once``.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from job_orchestrator.verify.api import ts
from job_orchestrator.verify.ledger import Record

TERMINAL = {"succeeded", "dlq", "cancelled"}
MAX_MESSAGES = 25


@dataclass
class Findings:
    violations: list[str] = field(default_factory=list)
    count: int = 0

    def add(self, message: str) -> None:
        self.count += 1
        if len(self.violations) < MAX_MESSAGES:
            self.violations.append(message)

    def extend(self, other: Findings) -> None:
        self.count += other.count
        for message in other.violations:
            if len(self.violations) < MAX_MESSAGES:
                self.violations.append(message)


def check_histories(
    jobs: list[dict[str, Any]],
    histories: dict[str, list[dict[str, Any]]],
    findings: Findings,
    *,
    redriven: frozenset[str] = frozenset(),
) -> None:
    for job in jobs:
        job_id = job["id"]
        attempts = histories.get(job_id, [])
        attempts = sorted(attempts, key=lambda a: ts(a["leased_at"]))
        numbers = [int(a["attempt"]) for a in attempts]
        # A redrive gives a fresh budget: numbering starts again at 1 (a new "generation").
        generations: list[list[int]] = []
        for number in numbers:
            if number == 1 or not generations:
                generations.append([])
            generations[-1].append(number)
        if len(generations) > 1 and job_id not in redriven:
            findings.add(f"job {job_id}: attempt numbers {numbers} restart without a redrive")
        for generation in generations:
            if generation != list(range(1, len(generation) + 1)):
                findings.add(f"job {job_id}: attempt numbers {numbers} are not 1..n")
            if len(generation) > int(job["max_attempts"]):
                findings.add(
                    f"job {job_id}: {len(generation)} attempts > max_attempts {job['max_attempts']}"
                )
        current = len(generations[-1]) if generations else 0
        if current != int(job["attempts"]):
            findings.add(f"job {job_id}: {current} attempts recorded, job says {job['attempts']}")
        open_ = [a for a in attempts if a.get("finished_at") is None]
        if len(open_) > 1:
            findings.add(f"job {job_id}: {len(open_)} attempts open at once")
        if open_ and (open_[-1] is not attempts[-1] or job["state"] != "leased"):
            findings.add(
                f"job {job_id}: attempt {open_[-1]['attempt']} still open while the "
                f"job is {job['state']}"
            )
        for a in attempts:
            if (a.get("finished_at") is None) != (a.get("outcome") is None):
                findings.add(f"job {job_id}: attempt {a['attempt']} finished_at/outcome mismatch")
        for earlier, later in itertools.pairwise(attempts):
            end = earlier.get("finished_at")
            if end is None or ts(end) > ts(later["leased_at"]):
                findings.add(
                    f"job {job_id}: attempts {earlier['attempt']} and {later['attempt']} held "
                    f"leases at the same time ({earlier['leased_at']}..{end} vs "
                    f"{later['leased_at']})"
                )
        succeeded = [a for a in attempts if a.get("outcome") == "succeeded"]
        if job["state"] == "succeeded" and (
            len(succeeded) != 1 or succeeded[0] is not attempts[-1]
        ):
            findings.add(
                f"job {job_id}: succeeded, but its succeeded attempts are "
                f"{[a['attempt'] for a in succeeded]} of {numbers}"
            )
        if job["state"] != "succeeded" and succeeded:
            findings.add(
                f"job {job_id}: is {job['state']} but attempt {succeeded[0]['attempt']} succeeded"
            )


def check_ledger(
    jobs: list[dict[str, Any]],
    histories: dict[str, list[dict[str, Any]]],
    records: list[Record],
    findings: Findings,
    *,
    killed_workers: frozenset[str] = frozenset(),
    excused_attempts: frozenset[tuple[str, int]] = frozenset(),
    exactly_once: bool = False,
) -> dict[str, int]:
    """Returns figures: effects applied, re-runs after a killed worker."""
    by_id = {job["id"]: job for job in jobs}
    holder: dict[tuple[str, int], dict[str, Any]] = {}
    for job_id, attempts in histories.items():
        for a in sorted(attempts, key=lambda a: ts(a["leased_at"])):
            holder[(job_id, int(a["attempt"]))] = a  # after a redrive: the latest generation
    for record in records:
        attempt = holder.get((record.job, record.attempt))
        if record.job not in by_id:
            findings.add(f"ledger: {record.kind} for job {record.job}, unknown to the server")
        elif attempt is None:
            findings.add(
                f"ledger: {record.kind} by {record.worker} for job {record.job} attempt "
                f"{record.attempt}, which the server never handed out"
            )
        elif attempt["worker_id"] != record.worker:
            findings.add(
                f"ledger: job {record.job} attempt {record.attempt} ran on "
                f"{record.worker}, but the server leased it to {attempt['worker_id']}"
            )
    effects = [r for r in records if r.kind == "effect"]
    per_attempt = Counter((r.job, r.attempt) for r in effects)
    for (job_id, number), n in per_attempt.items():
        if n > 1:
            findings.add(f"ledger: job {job_id} attempt {number} applied its effect {n} times")
    per_job = Counter(r.job for r in effects)
    reruns = 0
    for record in effects:
        attempt = holder.get((record.job, record.attempt))
        if attempt is None or attempt.get("outcome") == "succeeded":
            continue
        if not exactly_once and (
            record.worker in killed_workers or (record.job, record.attempt) in excused_attempts
        ):
            reruns += 1
        else:
            findings.add(
                f"ledger: job {record.job} attempt {record.attempt} applied its effect "
                f"but ended {attempt.get('outcome')} on a live worker {record.worker}"
            )
    for job in jobs:
        if job["state"] != "succeeded":
            continue
        won = [a for a in histories.get(job["id"], []) if a.get("outcome") == "succeeded"]
        if won and per_attempt.get((job["id"], int(won[-1]["attempt"])), 0) == 0:
            findings.add(f"ledger: job {job['id']} succeeded without its effect")
        if exactly_once and per_job.get(job["id"], 0) != 1:
            findings.add(
                f"ledger: job {job['id']} applied its effect {per_job.get(job['id'], 0)} "
                "times, expected exactly once"
            )
    return {"effects": len(effects), "reruns": reruns}

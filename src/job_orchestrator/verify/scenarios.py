"""The six seed verifications, each a real multi-process scenario.

A scenario gets a ``Run`` (the server's URL, the backend, a work directory, the processes it
may start) and returns a ``Result``. Each one uses a queue of its own, so several scenarios
share one server and a scenario can run against a deployment that has other work on it.
"""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from job_orchestrator.verify.api import Api, ts
from job_orchestrator.verify.checks import Findings, check_histories, check_ledger
from job_orchestrator.verify.launcher import Processes, ServerProcess
from job_orchestrator.verify.ledger import Ledger


@dataclass
class Sizes:
    """How big each scenario runs: ``full`` for ``make verify``, ``quick`` for the test suite."""

    e2e_jobs: int = 300
    claim_jobs: int = 3000
    claim_workers: int = 6
    chaos_jobs: int = 2000
    chaos_workers: int = 8
    chaos_duration: float = 150.0

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            e2e_jobs=40,
            claim_jobs=400,
            claim_workers=3,
            chaos_jobs=300,
            chaos_workers=4,
            chaos_duration=60.0,
        )


@dataclass
class Run:
    url: str
    backend: str  # postgres, sqlite, or "external" for --url
    processes: Processes
    workdir: Path
    sizes: Sizes = field(default_factory=Sizes)
    server: ServerProcess | None = None  # None: a deployment we do not control
    database_url: str | None = None
    reaper_interval: float = 0.2  # a deployment we do not control: assume the default, 1 s
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def queue(self, name: str) -> str:
        return f"verify-{self.run_id}-{name}"

    def ledger(self, name: str) -> Ledger:
        return Ledger(self.workdir / f"{self.queue(name)}.ledger")

    def worker(
        self,
        queue: str,
        ledger: Ledger,
        worker_id: str,
        *,
        concurrency: int = 8,
        url: str | None = None,
    ) -> subprocess.Popen[bytes]:
        command = [
            sys.executable,
            "-m",
            "job_orchestrator.verify.worker",
            "--url",
            url or self.url,
            "--queue",
            queue,
            "--ledger",
            str(ledger.path),
            "--worker-id",
            worker_id,
            "--concurrency",
            str(concurrency),
        ]
        return self.processes.spawn(command, log_name=f"worker-{worker_id}.log")

    def stop_workers(self, findings: Findings, *processes: subprocess.Popen[bytes]) -> None:
        """Stop them; a worker that exited by itself (e.g. a 500 it cannot retry) is a
        violation: nothing in these scenarios should make a worker give up."""
        for process in processes:
            status = self.processes.stop(process)
            if status is not None:
                findings.add(
                    f"worker process {process.pid} exited by itself with status {status} "
                    "(see its log in the work directory)"
                )


@dataclass
class Result:
    scenario: str
    backend: str
    status: str  # pass, FAIL, skip
    jobs: int = 0
    faults: int = 0
    violations: int = 0
    seconds: float = 0.0
    notes: str = ""
    messages: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    """What a scenario function reports; the runner turns it into a ``Result``."""

    findings: Findings = field(default_factory=Findings)
    jobs: int = 0
    faults: int = 0
    notes: list[str] = field(default_factory=list)
    skip: str | None = None


ScenarioFn = Callable[[Run, Api], Awaitable[Outcome]]


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    run: ScenarioFn
    backends: tuple[str, ...] = ("postgres", "sqlite", "external")


REGISTRY: dict[str, Scenario] = {}


def scenario(name: str, summary: str) -> Callable[[ScenarioFn], ScenarioFn]:
    def register(function: ScenarioFn) -> ScenarioFn:
        REGISTRY[name] = Scenario(name, summary, function)
        return function

    return register


def seconds_between(start: str, end: str) -> float:
    return (ts(end) - ts(start)).total_seconds()


def slack(run: Run) -> float:
    """Scheduling slack for timing checks: the reaper's interval, the long poll's re-check
    (0.1 s on our servers, 0.5 s by default), and a busy machine."""
    return run.reaper_interval + (1.5 if run.server is not None else 3.0)


async def collect(
    api: Api, queue: str
) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    jobs = await api.jobs(queue)
    return jobs, await api.histories(jobs)


async def wait_for(
    predicate: Callable[[], Awaitable[bool]], within: float, interval: float = 0.1
) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(interval)
    return False


# ---- e2e ----------------------------------------------------------------------------------------
@scenario("e2e", "mixed jobs all reach succeeded with their results")
async def e2e(run: Run, api: Api) -> Outcome:
    out = Outcome()
    queue, ledger = run.queue("e2e"), run.ledger("e2e")
    n = run.sizes.e2e_jobs
    specs = []
    for i in range(n):
        spec: dict[str, Any] = {
            "type": "effect" if i % 2 else "effect_sync",
            "queue": queue,
            "payload": {"value": i, "ms": i % 7},
            "priority": i % 10,
        }
        if i % 10 == 0:
            spec["delay_seconds"] = 0.5
        if i % 15 == 0:
            spec["idempotency_key"] = f"{queue}-{i}"
        specs.append(spec)
    created = await api.enqueue_batch(specs)
    out.jobs = len(created)
    workers = [run.worker(queue, ledger, f"e2e-{run.run_id}-{w}") for w in range(2)]
    finished = await api.wait_quiet(queue, within=60 + n / 20)
    f = out.findings
    run.stop_workers(f, *workers)
    jobs, histories = await collect(api, queue)
    if not finished:
        f.add("not every job was terminal within the time limit")
    if {j["id"] for j in jobs} != {j["id"] for j in created}:
        f.add(f"the queue holds {len(jobs)} jobs, {len(created)} were enqueued")
    for job in jobs:
        value = job["payload"]["value"]
        if job["state"] != "succeeded":
            f.add(f"job {job['id']} ({job['type']}) ended {job['state']}")
        elif job["result"] != {"value": value, "square": value * value}:
            f.add(f"job {job['id']}: result {job['result']} for value {value}")
    check_histories(jobs, histories, f)
    figures = check_ledger(jobs, histories, ledger.records(), f, exactly_once=True)
    out.notes.append(f"{figures['effects']} effects")
    return out


# ---- lease expiry -------------------------------------------------------------------------------
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


# ---- no double claim ----------------------------------------------------------------------------
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


# ---- retry / DLQ --------------------------------------------------------------------------------
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


# ---- idempotency --------------------------------------------------------------------------------
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


# ---- execution timeout --------------------------------------------------------------------------
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

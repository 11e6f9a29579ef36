"""The schedules scenario: two server processes on one PostgreSQL database fire a few
``every_seconds: 1`` schedules while one of them is SIGKILLed and restarted (on SQLite, the one
server is killed and restarted). From the jobs:
no fire time yields two jobs, and none between the schedule's creation and its pause (all
within the catch-up window) is missed.

Every schedule is ``overlap: allow`` and no worker runs, so every fire time must enqueue a job
whatever the state of the previous one: the check is exact.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from job_orchestrator.verify.api import Api, ts
from job_orchestrator.verify.checks import Findings
from job_orchestrator.verify.launcher import ServerProcess, wait_port_free
from job_orchestrator.verify.scenarios.common import Outcome, Run, scenario

SCHEDULES = 4
DOWNTIME = 3.0  # seconds the killed server stays down
# The contract's promise: a fire time is enqueued within 2 s of T while a server runs. A fire
# time this close to the pause may legitimately not have fired before it.
FIRE_WITHIN = 2.0


def key_time(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fire_times(after: datetime, until: datetime) -> list[datetime]:
    """The whole seconds T with after < T <= until (``every_seconds: 1``)."""
    first = math.floor(after.timestamp()) + 1
    last = math.floor(until.timestamp())
    return [datetime.fromtimestamp(s, UTC) for s in range(first, last + 1)]


def check_schedule(
    name: str,
    jobs: list[dict[str, Any]],
    created: datetime,
    paused: datetime,
    findings: Findings,
) -> list[float]:
    """Duplicates, misses and keys of one schedule's jobs; returns the fire lags (s)."""
    fired = Counter(job["scheduled_for"] for job in jobs)
    for when, count in fired.items():
        if count > 1:
            findings.add(f"schedule {name}: fire time {when} yielded {count} jobs")
    seen = {ts(when) for when in fired if when is not None}
    for t in fire_times(created, paused - timedelta(seconds=FIRE_WITHIN)):
        if t not in seen:
            findings.add(f"schedule {name}: fire time {key_time(t)} has no job")
    lags = []
    for job in jobs:
        t = ts(job["scheduled_for"])
        if job["idempotency_key"] != f"schedule:{name}:{key_time(t)}":
            findings.add(f"job {job['id']}: idempotency key {job['idempotency_key']!r}")
        if t > paused:
            findings.add(f"schedule {name}: fired {job['scheduled_for']} after its pause")
        lag = (ts(job["created_at"]) - t).total_seconds()
        if lag < 0:
            findings.add(f"job {job['id']} was enqueued {-lag:.3f} s before its fire time")
        lags.append(lag)
    return lags


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def _restart_after(server: ServerProcess, delay: float) -> None:
    await asyncio.sleep(delay)
    server.kill()
    await asyncio.sleep(DOWNTIME)
    await asyncio.to_thread(wait_port_free, server.port)
    await asyncio.to_thread(server.start, migrate=False)


@scenario(
    "schedules",
    "every_seconds 1 schedules while a server is SIGKILLed: one job per fire time, none missed",
)
async def schedules(run: Run, api: Api) -> Outcome:
    out = Outcome()
    if run.server is None or run.database_url is None:
        out.skip = "needs server processes of ours (not --url)"
        return out
    if run.backend != "postgres":
        # SQLite serves one process at a time well: one server, killed and restarted.
        out.notes.append("one server (SQLite)")
        await _fire_through_a_kill(run, api, api, out)
        return out
    other = ServerProcess(run.processes, run.database_url, name="server-b")
    await asyncio.to_thread(other.start, migrate=False)
    survivor = Api(other.url)
    try:
        out.notes.append("two servers")
        await _fire_through_a_kill(run, api, survivor, out)
    finally:
        await survivor.close()
    return out


async def _fire_through_a_kill(run: Run, api: Api, survivor: Api, out: Outcome) -> None:
    queue = run.queue("sched")
    names = [f"{queue}-{i}" for i in range(SCHEDULES)]
    created: dict[str, datetime] = {}
    for name in names:
        body = {"every_seconds": 1, "overlap": "allow", "job": {"type": "noop", "queue": queue}}
        answer = await api.ok("PUT", f"/v1/schedules/{name}", body)
        created[name] = ts(answer["created_at"])
    duration = run.sizes.schedule_seconds
    started = time.monotonic()
    assert run.server is not None
    await _restart_after(run.server, duration / 3)
    out.faults = 1
    await asyncio.sleep(max(0.0, duration - (time.monotonic() - started)))
    paused: dict[str, datetime] = {}
    for name in names:  # through the survivor (PostgreSQL): the restarted one is not needed
        answer = await survivor.ok("POST", f"/v1/schedules/{name}/pause")
        paused[name] = ts(answer["updated_at"])
    await asyncio.sleep(FIRE_WITHIN)  # a fire time claimed just before the pause lands
    by_schedule: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for job in await survivor.jobs(queue):
        by_schedule[str(job.get("schedule"))].append(job)
    lags: list[float] = []
    for name in names:
        lags += check_schedule(name, by_schedule[name], created[name], paused[name], out.findings)
        await survivor.ok("DELETE", f"/v1/schedules/{name}")
    strays = set(by_schedule) - set(names)
    if strays:
        out.findings.add(f"jobs of the queue name no schedule of this run: {sorted(strays)}")
    out.jobs = len(lags)
    out.notes.append(
        f"{len(lags)} fire times over {SCHEDULES} schedules in {duration:.0f} s; lag p50 "
        f"{quantile(lags, 0.5):.3f} s, max {max(lags, default=0.0):.1f} s (the kill's catch-up)"
    )

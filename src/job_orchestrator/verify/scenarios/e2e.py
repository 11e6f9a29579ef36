"""The e2e scenario: mixed jobs all reach succeeded with their results."""

from __future__ import annotations

from typing import Any

from job_orchestrator.verify.api import Api
from job_orchestrator.verify.checks import check_histories, check_ledger
from job_orchestrator.verify.scenarios.common import Outcome, Run, collect, scenario


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

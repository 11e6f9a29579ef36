"""The whole job on one machine: server, workers, a few thousand jobs, a summary.

Starts the server on an embedded SQLite file in a temporary directory (or on DATABASE_URL /
ORCHESTRATOR_DATABASE_URL when set), starts worker processes running examples/handlers.py,
enqueues a realistic mix (fast jobs, slow jobs that heartbeat progress, flaky jobs that fail
and retry, poison jobs that end in the DLQ, jobs that run past their timeout), shows progress,
and prints a summary. Exits 0 when every job ended where it should. Every process it started
is stopped on the way out, Ctrl-C included. Processes are started by the project's one launcher
(``job_orchestrator.verify.launcher``), with its environment rule.

    .venv/bin/python scripts/demo.py [--jobs 3000] [--workers 2] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from job_orchestrator.sdk import Client, Job, JobSpec, RetryPolicy
from job_orchestrator.verify.launcher import Processes, ServerProcess

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "job_orchestrator.cli.main"]
EXPECTED = {"fast": "succeeded", "slow": "succeeded", "flaky": "succeeded",
            "poison": "dlq", "overrun": "dlq"}  # fmt: skip


def check_alive(processes: Processes) -> None:
    for log_name, status in processes.exited():
        log = processes.log(log_name)[-2000:]
        raise SystemExit(f"demo: {log_name} exited with {status}:\n{log}")


def job_mix(total: int, queue: str) -> list[JobSpec]:
    quick_retry = RetryPolicy(initial_seconds=0.2, multiplier=2, max_seconds=1, jitter=True)
    specs = [
        *(JobSpec("slow", {"steps": 8, "step_seconds": 0.25}, queue=queue, lease_seconds=1)
          for _ in range(20)),
        *(JobSpec("flaky", {"fail_times": 2}, queue=queue, retry=quick_retry)
          for _ in range(100)),
        *(JobSpec("poison", {"order": f"#{i}"}, queue=queue) for i in range(5)),
        *(JobSpec("overrun", {"seconds": 60}, queue=queue, timeout_seconds=1, max_attempts=2,
                  retry=quick_retry) for _ in range(3)),
    ]  # fmt: skip
    fast = max(total - len(specs), 0)
    return specs + [JobSpec("fast", {"n": i}, queue=queue) for i in range(fast)]


def counts(url: str, queue: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/v1/metrics", timeout=10) as response:
        metrics: dict[str, Any] = orjson.loads(response.read())
    by_state: dict[str, int] = metrics["jobs"].get(queue, {})
    return by_state


def all_jobs(client: Client, queue: str) -> Iterator[Job]:
    cursor = None
    while True:
        page = client.list_jobs(queue=queue, limit=500, cursor=cursor)
        yield from page.jobs
        if not page.next_cursor:
            return
        cursor = page.next_cursor


def watch(url: str, queue: str, total: int, processes: Processes, timeout: float) -> float:
    started = time.monotonic()
    while True:
        check_alive(processes)
        by_state = counts(url, queue)
        done = sum(by_state.get(s, 0) for s in ("succeeded", "dlq", "cancelled"))
        elapsed = time.monotonic() - started
        states = "  ".join(f"{s} {n}" for s, n in sorted(by_state.items()))
        print(f"  {elapsed:5.1f} s  {done}/{total} finished   {states}", flush=True)
        if done >= total:
            return elapsed
        if elapsed > timeout:
            raise SystemExit(f"demo: not finished after {timeout} s")
        time.sleep(1.0)


def summarize(client: Client, queue: str, elapsed: float) -> bool:
    jobs = list(all_jobs(client, queue))
    table: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for job in jobs:
        table[job.type][job.state.value] += 1
    retries = sum(max(job.attempts - 1, 0) for job in jobs)
    print(f"\n{len(jobs)} jobs in {elapsed:.1f} s: {len(jobs) / elapsed:,.0f} jobs/s end to end")
    print(f"retries (attempts beyond the first): {retries}\n")
    print(f"  {'type':10s} {'expected':10s} final states")
    ok = True
    for job_type, states in sorted(table.items()):
        expected = EXPECTED[job_type]
        good = set(states) == {expected}
        ok &= good
        summary = ", ".join(f"{state} {n}" for state, n in sorted(states.items()))
        print(f"  {job_type:10s} {expected:10s} {summary}{'' if good else '   <- unexpected'}")
    dead = client.dlq(queue=queue, limit=20).jobs
    print(f"\nDLQ ({len(dead)} jobs):")
    for job in dead:
        error = job.last_error or {}
        print(f"  job {job.id} {job.type}: {error.get('type')}: {error.get('message')}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=100.0, help="seconds for the jobs")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("ORCHESTRATOR_DATABASE_URL") or os.environ.get("DATABASE_URL"),
    )
    args = parser.parse_args()
    temp = Path(tempfile.mkdtemp(prefix="jo-demo-"))
    database_url = args.database_url or f"sqlite:///{temp}/demo.db"
    processes = Processes(temp, cwd=REPO)
    server = ServerProcess(
        processes, database_url, reaper_interval=0.5, poll_interval=None, log_level=None
    )
    url = server.url
    queue = f"demo-{uuid.uuid4().hex[:6]}"  # a reused PostgreSQL database keeps older runs
    backend = database_url.split(":", 1)[0]
    try:
        print(f"demo: server on {url} ({backend}), logs in {temp}")
        try:
            server.start(migrate=True, timeout=60)
        except (RuntimeError, TimeoutError) as error:
            raise SystemExit(f"demo: {error}") from None
        for n in range(args.workers):
            worker = [*CLI, "worker", "examples.handlers:handlers", "--queues", queue, "--url",
                      url, "--concurrency", str(args.concurrency), "--grace", "5"]  # fmt: skip
            processes.spawn(worker, log_name=f"worker-{n}.log")
        with Client(url) as client:
            specs = job_mix(args.jobs, queue)
            print(f"demo: {args.workers} workers x {args.concurrency}; enqueuing {len(specs)} jobs")
            client.enqueue_many(specs)
            elapsed = watch(url, queue, len(specs), processes, args.timeout)
            ok = summarize(client, queue, elapsed)
        print("\ndemo: every job ended where it should" if ok else "\ndemo: UNEXPECTED outcomes")
        return 0 if ok else 1
    except KeyboardInterrupt:
        print("\ndemo: interrupted; stopping everything")
        return 130
    finally:
        processes.close(grace=15)  # workers first: they hand their jobs back through the server
        shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

"""What every scenario shares: its sizes, the ``Run`` it gets, the ``Outcome`` it returns, the
registry it joins with ``@scenario``, and the small timing helpers."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from job_orchestrator.verify.api import Api, ts
from job_orchestrator.verify.checks import Findings
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
    schedule_seconds: float = 24.0

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            e2e_jobs=40,
            claim_jobs=400,
            claim_workers=3,
            chaos_jobs=300,
            chaos_workers=4,
            chaos_duration=60.0,
            schedule_seconds=12.0,
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

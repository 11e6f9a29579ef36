"""Running scenarios on a backend: the server (or ``--url``), the work directory, the results."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from job_orchestrator.verify.api import Api
from job_orchestrator.verify.launcher import (
    ADMIN_DSN,
    PostgresDatabase,
    Processes,
    ServerProcess,
    postgres_reason,
)
from job_orchestrator.verify.scenarios import REGISTRY, Outcome, Result, Run, Sizes

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@dataclass
class ChaosOptions:
    jobs: int | None = None
    workers: int | None = None
    duration: float | None = None


def result_of(name: str, backend: str, outcome: Outcome, seconds: float) -> Result:
    status = "skip" if outcome.skip else ("FAIL" if outcome.findings.count else "pass")
    return Result(
        scenario=name,
        backend=backend,
        status=status,
        jobs=outcome.jobs,
        faults=outcome.faults,
        violations=outcome.findings.count,
        seconds=seconds,
        notes=outcome.skip or "; ".join(outcome.notes),
        messages=outcome.findings.violations,
    )


async def _run_one(run: Run, name: str, chaos: ChaosOptions) -> Outcome:
    api = Api(run.url)
    try:
        if name == "chaos":
            from job_orchestrator.verify.chaos import chaos as run_chaos

            return await run_chaos(run, api, chaos)
        return await REGISTRY[name].run(run, api)
    finally:
        await api.close()


def run_scenario(run: Run, name: str, chaos: ChaosOptions) -> Result:
    started = time.monotonic()
    try:
        outcome = asyncio.run(_run_one(run, name, chaos))
    except Exception as error:  # a scenario that crashes has failed, with the reason shown
        outcome = Outcome()
        outcome.findings.add(f"the scenario crashed: {type(error).__name__}: {error}")
        outcome.findings.add(traceback.format_exc(limit=4))
    return result_of(name, run.backend, outcome, time.monotonic() - started)


@contextlib.contextmanager
def backend_run(
    backend: str,
    base: Path,
    sizes: Sizes,
    *,
    url: str | None = None,
    database_url: str | None = None,
) -> Iterator[Run | str]:
    """A ``Run`` on a server of ours for ``backend`` (or on ``url``), or why it cannot be had."""
    directory = base / backend
    directory.mkdir(parents=True, exist_ok=True)
    with Processes(directory) as processes:
        if url:
            yield Run(
                url=url.rstrip("/"),
                backend="external",
                processes=processes,
                workdir=directory,
                sizes=sizes,
                reaper_interval=1.0,
            )
            return
        if backend == "sqlite":
            db_url = database_url or f"sqlite:///{directory / 'orchestrator.db'}"
            server = ServerProcess(processes, db_url)
            server.start()
            yield Run(
                url=server.url,
                backend=backend,
                processes=processes,
                workdir=directory,
                sizes=sizes,
                server=server,
                database_url=db_url,
            )
            return
        if database_url:
            server = ServerProcess(processes, database_url)
            server.start()
            yield Run(
                url=server.url,
                backend=backend,
                processes=processes,
                workdir=directory,
                sizes=sizes,
                server=server,
                database_url=database_url,
            )
            return
        reason = postgres_reason(ADMIN_DSN)
        if reason:
            yield reason
            return
        with PostgresDatabase(ADMIN_DSN) as database:
            server = ServerProcess(processes, database.url)
            try:
                server.start()
                yield Run(
                    url=server.url,
                    backend=backend,
                    processes=processes,
                    workdir=directory,
                    sizes=sizes,
                    server=server,
                    database_url=database.url,
                )
            finally:
                processes.close()  # before the database is dropped


def execute(
    names: list[str],
    backends: list[str],
    *,
    sizes: Sizes,
    chaos: ChaosOptions,
    url: str | None = None,
    database_url: str | None = None,
    keep: bool = False,
    report: object = None,
) -> tuple[list[Result], Path]:
    """Run ``names`` on each backend; ``report(result)`` is called as each one finishes."""
    results: list[Result] = []
    base = Path(tempfile.mkdtemp(prefix="jo-verify-"))
    clean = False
    try:
        for backend in ["external"] if url else backends:
            with backend_run(backend, base, sizes, url=url, database_url=database_url) as run:
                for name in names:
                    if isinstance(run, str):
                        status = "FAIL" if IN_CI else "skip"
                        result = Result(
                            name, backend, status, notes=run, violations=1 if IN_CI else 0
                        )
                    else:
                        result = run_scenario(run, name, chaos)
                    results.append(result)
                    if callable(report):
                        report(result)
        clean = not any(r.status == "FAIL" for r in results)
    finally:
        if clean and not keep:
            shutil.rmtree(base, ignore_errors=True)
    return results, base

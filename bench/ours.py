"""Hook for job-orchestrator itself: the runner the harness plugs in next to the peers.

Not wired yet: the server and the worker SDK are still being written. Once
they exist, `create` returns a `SystemUnderTest` that starts the server
(`--backend` decides PostgreSQL or SQLite) and worker processes over the SDK,
enqueues through `POST /v1/jobs/batch` (1,000 per call) and `POST /v1/jobs`,
has the no-op handler call `bench.probe.report(seq)`, counts the server
process in its worker tree for CPU, and runs ANALYZE on its tables after
seeding. Until then it says so, and the results show it as skipped.
"""

from __future__ import annotations

from typing import Any

from bench.common import SystemUnderTest, Workload

NAME = "job-orchestrator"
NOT_WIRED = "not yet wired: bench/ours.py awaits the server and worker SDK"


def config(workload: Workload, backend: str) -> dict[str, Any]:
    return {
        "summary": f"backend={backend}",
        "backend": backend,
        "workers": workload.workers,
        "status": "not yet wired",
    }


def create(workload: Workload, backend: str) -> SystemUnderTest | str:
    """Our system on `backend`, or the reason it cannot be measured."""
    return NOT_WIRED

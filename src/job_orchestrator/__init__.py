"""job-orchestrator: lease-based job orchestration.

The worker SDK and the producer client are re-exported here (``from job_orchestrator import
Worker, Client, handler``). They load on first use, so the server, which imports submodules
of this package, does not pay for the SDK's HTTP clients, and importing the package stays
free of server modules.
"""

# ruff: noqa: F405  (__all__ names what the type-checking star import provides)
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from job_orchestrator.sdk import *  # noqa: F403  (for type checkers; loaded lazily below)

# The SDK's public names (kept equal to job_orchestrator.sdk.__all__ by a test).
__all__ = [
    "APIError",
    "AlreadyCompleted",
    "AsyncClient",
    "Attempt",
    "Client",
    "ConnectionFailed",
    "Forbidden",
    "HandlerCancelled",
    "Handlers",
    "IdempotencyConflict",
    "InvalidRequest",
    "InvalidTransition",
    "Job",
    "JobCancelled",
    "JobContext",
    "JobError",
    "JobFailed",
    "JobInfo",
    "JobPage",
    "JobSpec",
    "JobState",
    "Lease",
    "LeaseLost",
    "NonRetryableError",
    "NotFound",
    "OrchestratorError",
    "PayloadTooLarge",
    "Queue",
    "RateLimited",
    "RetryAfter",
    "RetryPolicy",
    "Schedule",
    "ScheduleDiff",
    "SchedulePage",
    "ScheduleSpec",
    "Snooze",
    "Task",
    "TaskOptions",
    "Unauthorized",
    "Unavailable",
    "WaitTimeout",
    "Worker",
    "WorkerStatus",
    "handler",
    "heartbeat",
    "idempotency_key",
    "info",
    "is_cancelled",
    "snooze",
    "task",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from job_orchestrator import sdk

        return getattr(sdk, name)
    raise AttributeError(f"module 'job_orchestrator' has no attribute {name!r}")

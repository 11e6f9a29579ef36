"""job-orchestrator: lease-based job orchestration.

The worker SDK and the producer client are re-exported here (``from job_orchestrator import
Worker, Client, handler``). They load on first use, so the server, which imports submodules
of this package, does not pay for the SDK's HTTP clients, and importing the package stays
free of server modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from job_orchestrator.sdk import AlreadyCompleted as AlreadyCompleted
    from job_orchestrator.sdk import APIError as APIError
    from job_orchestrator.sdk import AsyncClient as AsyncClient
    from job_orchestrator.sdk import Attempt as Attempt
    from job_orchestrator.sdk import Client as Client
    from job_orchestrator.sdk import ConnectionFailed as ConnectionFailed
    from job_orchestrator.sdk import Forbidden as Forbidden
    from job_orchestrator.sdk import HandlerCancelled as HandlerCancelled
    from job_orchestrator.sdk import Handlers as Handlers
    from job_orchestrator.sdk import IdempotencyConflict as IdempotencyConflict
    from job_orchestrator.sdk import InvalidRequest as InvalidRequest
    from job_orchestrator.sdk import InvalidTransition as InvalidTransition
    from job_orchestrator.sdk import Job as Job
    from job_orchestrator.sdk import JobCancelled as JobCancelled
    from job_orchestrator.sdk import JobContext as JobContext
    from job_orchestrator.sdk import JobError as JobError
    from job_orchestrator.sdk import JobFailed as JobFailed
    from job_orchestrator.sdk import JobInfo as JobInfo
    from job_orchestrator.sdk import JobPage as JobPage
    from job_orchestrator.sdk import JobSpec as JobSpec
    from job_orchestrator.sdk import JobState as JobState
    from job_orchestrator.sdk import Lease as Lease
    from job_orchestrator.sdk import LeaseLost as LeaseLost
    from job_orchestrator.sdk import NonRetryableError as NonRetryableError
    from job_orchestrator.sdk import NotFound as NotFound
    from job_orchestrator.sdk import OrchestratorError as OrchestratorError
    from job_orchestrator.sdk import PayloadTooLarge as PayloadTooLarge
    from job_orchestrator.sdk import RateLimited as RateLimited
    from job_orchestrator.sdk import RetryPolicy as RetryPolicy
    from job_orchestrator.sdk import Unauthorized as Unauthorized
    from job_orchestrator.sdk import Unavailable as Unavailable
    from job_orchestrator.sdk import WaitTimeout as WaitTimeout
    from job_orchestrator.sdk import Worker as Worker
    from job_orchestrator.sdk import handler as handler
    from job_orchestrator.sdk import heartbeat as heartbeat
    from job_orchestrator.sdk import idempotency_key as idempotency_key
    from job_orchestrator.sdk import info as info
    from job_orchestrator.sdk import is_cancelled as is_cancelled

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
    "RateLimited",
    "RetryPolicy",
    "Unauthorized",
    "Unavailable",
    "WaitTimeout",
    "Worker",
    "handler",
    "heartbeat",
    "idempotency_key",
    "info",
    "is_cancelled",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from job_orchestrator import sdk

        return getattr(sdk, name)
    raise AttributeError(f"module 'job_orchestrator' has no attribute {name!r}")

"""Worker SDK and producer client of job-orchestrator.

Light on purpose: importing this never imports FastAPI, SQLAlchemy or any server module, so a
worker host needs only aiohttp, httpx and orjson.
"""

from job_orchestrator.sdk.client import AsyncClient, Client
from job_orchestrator.sdk.context import (
    JobContext,
    JobInfo,
    heartbeat,
    idempotency_key,
    info,
    is_cancelled,
)
from job_orchestrator.sdk.errors import (
    AlreadyCompleted,
    APIError,
    ConnectionFailed,
    Forbidden,
    HandlerCancelled,
    IdempotencyConflict,
    InvalidRequest,
    InvalidTransition,
    JobCancelled,
    JobError,
    JobFailed,
    LeaseLost,
    NonRetryableError,
    NotFound,
    OrchestratorError,
    PayloadTooLarge,
    RateLimited,
    RetryAfter,
    Unauthorized,
    Unavailable,
    WaitTimeout,
)
from job_orchestrator.sdk.handlers import Handlers, handler
from job_orchestrator.sdk.models import (
    Attempt,
    Job,
    JobPage,
    JobSpec,
    JobState,
    Lease,
    RetryPolicy,
    WorkerStatus,
)
from job_orchestrator.sdk.tasks import Task, TaskOptions, task
from job_orchestrator.sdk.worker import Worker

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
    "RetryAfter",
    "RetryPolicy",
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
    "task",
]

"""Domain objects -> JSON-ready dicts, on the hot path (no pydantic round trip)."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from job_orchestrator.domain.errors import DomainError
from job_orchestrator.domain.models import Attempt, Job, Lease


def iso(value: datetime | None) -> str | None:
    # RFC 3339 in UTC with a Z, as the contract asks.
    return None if value is None else _iso(value)


@functools.lru_cache(maxsize=1024)
def _iso(value: datetime) -> str:
    # Cached: the jobs of one batch share their created/updated/run_at instants, and formatting
    # was ~9% of a 1,000-job batch enqueue.
    return value.isoformat().replace("+00:00", "Z")


def job_dict(job: Job) -> dict[str, Any]:
    return {
        "id": str(job.id),
        "queue": job.queue,
        "type": job.type,
        "payload": job.payload,
        "state": job.state.value,
        "priority": job.priority,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "run_at": iso(job.run_at),
        "created_at": iso(job.created_at),
        "updated_at": iso(job.updated_at),
        "finished_at": iso(job.finished_at),
        "lease_expires_at": iso(job.lease_expires_at),
        "timeout_seconds": job.timeout_seconds,
        "lease_seconds": job.lease_seconds,
        "retry": {
            "initial_seconds": job.retry.initial_seconds,
            "multiplier": job.retry.multiplier,
            "max_seconds": job.retry.max_seconds,
            "jitter": job.retry.jitter,
        },
        "idempotency_key": job.idempotency_key,
        "result": job.result,
        "last_error": job.last_error,
        "heartbeat_details": job.heartbeat_details,
        "cancel_requested": job.cancel_requested,
        "schedule": job.schedule,
        "scheduled_for": iso(job.scheduled_for),
    }


def lease_dict(lease: Lease) -> dict[str, Any]:
    return {
        "job_id": str(lease.job_id),
        "lease_token": lease.lease_token,
        "attempt": lease.attempt,
        "lease_expires_at": iso(lease.lease_expires_at),
        "deadline": iso(lease.deadline),
        "queue": lease.queue,
        "type": lease.type,
        "payload": lease.payload,
        "heartbeat_details": lease.heartbeat_details,
        "lease_seconds": lease.lease_seconds,
        "timeout_seconds": lease.timeout_seconds,
    }


def attempt_dict(attempt: Attempt) -> dict[str, Any]:
    return {
        "attempt": attempt.attempt,
        "worker_id": attempt.worker_id,
        "leased_at": iso(attempt.leased_at),
        "finished_at": iso(attempt.finished_at),
        "outcome": attempt.outcome.value if attempt.outcome else None,
        "error": attempt.error,
    }


def error_dict(error: DomainError) -> dict[str, Any]:
    return {"code": error.code, "message": error.message, "details": error.details}

"""Rows to domain objects and values to columns: one place for both dialects.

Positional on purpose: ``job_of`` runs for every job of every batch, and name lookups on the row
mapping were most of its cost. A row is a SQLAlchemy row or an asyncpg record alike.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from job_orchestrator import jsoncodec
from job_orchestrator.domain.models import JSON, Completion, HeartbeatResult, Job, Lease
from job_orchestrator.domain.retry import RetryPolicy
from job_orchestrator.domain.states import JobState
from job_orchestrator.store.dialect import SqlDialect

_STATES = {state.value: state for state in JobState}
RESULT_COLUMN: Any = object()  # job_of(): take the result from the row itself


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def completion_key(item: Completion) -> str:
    """The completion's idempotency key; the contract's default is the lease token (hashed)."""
    return item.idempotency_key or f"lease:{hash_token(item.lease_token)}"


def encode_json(value: JSON) -> str | None:
    return None if value is None else jsoncodec.dumps(value).decode()


def decode_json(value: Any) -> JSON:
    return None if value is None else jsoncodec.loads(value)


def job_of(row: Sequence[Any], result: Any = RESULT_COLUMN) -> Job:
    """A row whose first columns are JOB_COLUMNS; the stored result is ``result`` (JSON
    text) when given, else the column right after them (reads join job_completions).
    """
    (
        id_, queue, type_, payload, state, priority, attempts, max_attempts, run_at,
        created_at, updated_at, finished_at, lease_expires_at, deadline, timeout_seconds,
        lease_seconds, retry_initial, retry_multiplier, retry_max, retry_jitter,
        idempotency_key, last_error, heartbeat_details, cancel_requested, worker_id, owner,
        schedule, scheduled_for, *rest,
    ) = row  # fmt: skip
    t = SqlDialect.decode_time
    return Job(
        id=id_,
        queue=queue,
        type=type_,
        payload=decode_json(payload),
        state=_STATES[state],
        priority=priority,
        attempts=attempts,
        max_attempts=max_attempts,
        run_at=t(run_at),  # type: ignore[arg-type]
        created_at=t(created_at),  # type: ignore[arg-type]
        updated_at=t(updated_at),  # type: ignore[arg-type]
        finished_at=t(finished_at),
        lease_expires_at=t(lease_expires_at),
        deadline=t(deadline),
        timeout_seconds=timeout_seconds,
        lease_seconds=lease_seconds,
        retry=RetryPolicy(retry_initial, retry_multiplier, retry_max, bool(retry_jitter)),
        idempotency_key=idempotency_key,
        result=decode_json((rest[0] if rest else None) if result is RESULT_COLUMN else result),
        last_error=decode_json(last_error),
        heartbeat_details=decode_json(heartbeat_details),
        cancel_requested=bool(cancel_requested),
        worker_id=worker_id,
        owner=owner,
        schedule=schedule,
        scheduled_for=t(scheduled_for),
    )


def lease_of(row: Sequence[Any], token: str) -> Lease:
    """A row of LEASE_COLUMNS."""
    (
        id_, attempts, _token_hash, lease_expires_at, deadline, queue, type_, payload,
        heartbeat_details, lease_seconds, timeout_seconds, leased_at, run_at,
    ) = row  # fmt: skip
    t = SqlDialect.decode_time
    return Lease(
        job_id=id_,
        lease_token=token,
        attempt=attempts,
        lease_expires_at=t(lease_expires_at),  # type: ignore[arg-type]
        deadline=t(deadline),
        queue=queue,
        type=type_,
        payload=decode_json(payload),
        heartbeat_details=decode_json(heartbeat_details),
        lease_seconds=lease_seconds,
        timeout_seconds=timeout_seconds,
        leased_at=t(leased_at),  # type: ignore[arg-type]
        run_at=t(run_at),  # type: ignore[arg-type]
    )


def heartbeat_result_of(lease_expires_at: Any, cancel_requested: Any) -> HeartbeatResult:
    return HeartbeatResult(
        lease_expires_at=SqlDialect.decode_time(lease_expires_at),
        cancel_requested=bool(cancel_requested),
    )

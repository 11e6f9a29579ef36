"""Plain data passed between the API, the services and the store (no ORM objects)."""

from __future__ import annotations

from dataclasses import field
from datetime import datetime
from typing import Any

from job_orchestrator.domain.retry import RetryPolicy
from job_orchestrator.domain.states import AttemptOutcome, JobState
from job_orchestrator.domain.value import value_object

JSON = Any


@value_object
class NewJob:
    type: str
    payload: JSON = None
    queue: str = "default"
    priority: int = 0
    run_at: datetime | None = None
    delay_seconds: float | None = None
    max_attempts: int = 5
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    lease_seconds: float = 30.0
    timeout_seconds: float | None = None
    idempotency_key: str | None = None
    # The API key that created the job (producer-scoped keys only see their own jobs).
    owner: str | None = None
    # The schedule that enqueued the job, and the fire time it was for (None: a trigger).
    schedule: str | None = None
    scheduled_for: datetime | None = None


@value_object
class Job:
    id: int
    queue: str
    type: str
    payload: JSON
    state: JobState
    priority: int
    attempts: int
    max_attempts: int
    run_at: datetime
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    lease_expires_at: datetime | None
    deadline: datetime | None
    timeout_seconds: float | None
    lease_seconds: float
    retry: RetryPolicy
    idempotency_key: str | None
    result: JSON
    last_error: JSON
    heartbeat_details: JSON
    cancel_requested: bool
    worker_id: str | None
    owner: str | None = None
    schedule: str | None = None
    scheduled_for: datetime | None = None

    @classmethod
    def enqueued(cls, new: NewJob, *, id: int, run_at: datetime, created_at: datetime) -> Job:
        """The job an enqueue of ``new`` stores, given what the database decided."""
        return cls(
            id=id,
            queue=new.queue,
            type=new.type,
            payload=new.payload,
            state=JobState.PENDING,
            priority=new.priority,
            attempts=0,
            max_attempts=new.max_attempts,
            run_at=run_at,
            created_at=created_at,
            updated_at=created_at,
            finished_at=None,
            lease_expires_at=None,
            deadline=None,
            timeout_seconds=new.timeout_seconds,
            lease_seconds=new.lease_seconds,
            retry=new.retry,
            idempotency_key=new.idempotency_key,
            result=None,
            last_error=None,
            heartbeat_details=None,
            cancel_requested=False,
            worker_id=None,
            owner=new.owner,
            schedule=new.schedule,
            scheduled_for=new.scheduled_for,
        )


@value_object
class Lease:
    job_id: int
    lease_token: str
    attempt: int
    lease_expires_at: datetime
    deadline: datetime | None
    queue: str
    type: str
    payload: JSON
    heartbeat_details: JSON
    lease_seconds: float
    timeout_seconds: float | None
    leased_at: datetime
    run_at: datetime


@value_object
class Attempt:
    job_id: int
    attempt: int
    worker_id: str
    leased_at: datetime
    finished_at: datetime | None
    outcome: AttemptOutcome | None
    error: JSON


@value_object
class LeaseRequest:
    worker_id: str
    queues: tuple[str, ...] = ("default",)
    types: tuple[str, ...] | None = None
    max_jobs: int = 1


@value_object
class FailureInfo:
    message: str
    type: str | None = None
    retryable: bool = True
    retry_after_seconds: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {"message": self.message, "type": self.type, "retryable": self.retryable}


@value_object
class Heartbeat:
    job_id: int
    lease_token: str
    details: JSON = None
    set_details: bool = False  # False: keep the stored details (the call carried none)


@value_object
class Completion:
    job_id: int
    lease_token: str
    result: JSON
    idempotency_key: str | None = None
    # The handler's last progress, stored as heartbeat_details by the completing statement
    # itself (False: keep the stored details, as a heartbeat without details does).
    details: JSON = None
    set_details: bool = False


@value_object
class Completed:
    """A successful completion when the caller did not ask for the whole job back."""

    job_id: int
    replayed: bool = False


@value_object
class HeartbeatResult:
    lease_expires_at: datetime | None
    cancel_requested: bool


@value_object
class EnqueueResult:
    job: Job
    created: bool  # False when an idempotency key returned an existing job


@value_object
class JobFilter:
    queue: str | None = None
    state: JobState | None = None
    type: str | None = None
    limit: int = 50
    before_id: int | None = None  # cursor: list ids strictly below this one (newest first)
    owner: str | None = None  # only jobs created by this API key


@value_object
class ReapResult:
    lease_expired: int = 0
    timed_out: int = 0
    retried: int = 0
    dead_lettered: int = 0

    @property
    def total(self) -> int:
        return self.lease_expired + self.timed_out


# A worker not seen for this long has stopped polling: a live one asks at least every 30 s
# (the longest long poll), and the server notes it every few seconds.
WORKER_POLLING_SECONDS = 60.0


@value_object
class WorkerInfo:
    worker_id: str
    queues: tuple[str, ...]
    last_seen_at: datetime
    leases_held: int
    types: tuple[str, ...] | None = None  # the types it asks for; None: every type

    def is_polling(self, now: datetime) -> bool:
        return (now - self.last_seen_at).total_seconds() <= WORKER_POLLING_SECONDS

    def serves(self, queue: str, type_: str) -> bool:
        """Whether its lease requests would take a job of ``type_`` on ``queue``."""
        return queue in self.queues and (self.types is None or type_ in self.types)


@value_object
class ApiKeyRecord:
    id: str
    scopes: tuple[str, ...]
    name: str | None
    created_at: datetime
    revoked_at: datetime | None


# ---- v1.1: queues, snooze, retention ------------------------------------------------------------
@value_object
class QueueSettings:
    """A queue's stored settings; a queue without a row has these defaults."""

    name: str
    paused: bool = False
    rate_limit_per_second: float | None = None
    concurrency_limit: int | None = None


@value_object
class QueueChange:
    """A partial update of a queue's settings: only the fields given (``*_given``) change."""

    paused: bool | None = None
    rate_limit_per_second: float | None = None
    rate_limit_given: bool = False
    concurrency_limit: int | None = None
    concurrency_limit_given: bool = False


@value_object
class QueueInfo:
    settings: QueueSettings
    counts: dict[str, int]
    # Age of the oldest ready pending job (run_at come, every readiness rule holding), or None.
    oldest_ready_seconds: float | None


@value_object
class Snooze:
    job_id: int
    lease_token: str
    delay_seconds: float
    details: JSON = None
    set_details: bool = False  # False: keep the stored heartbeat details


@value_object
class CleanResult:
    """What one round of the cleaner deleted, by terminal state."""

    deleted: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.deleted.values())

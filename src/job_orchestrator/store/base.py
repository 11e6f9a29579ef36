"""The store interface: every persistent operation the services need, dialect-neutral.

Two implementations (PostgreSQL, SQLite) pass one conformance suite. Every method that depends
on time takes ``now``: None means the database clock (production); tests pass a time to move
the clock instead of sleeping.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import datetime

from job_orchestrator.domain.errors import DomainError
from job_orchestrator.domain.models import (
    JSON,
    ApiKeyRecord,
    Attempt,
    Completed,
    Completion,
    EnqueueResult,
    FailureInfo,
    Heartbeat,
    HeartbeatResult,
    Job,
    JobFilter,
    Lease,
    LeaseRequest,
    NewJob,
    QueueChange,
    QueueInfo,
    QueueSettings,
    ReapResult,
    Snooze,
    WorkerInfo,
)
from job_orchestrator.domain.schedules import Schedule, ScheduleDefinition, SchedulerStep

QueueReadyCallback = Callable[[str], None]


class Store(ABC):
    dialect_name: str

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers."""

    @abstractmethod
    async def db_now(self) -> datetime: ...

    # ---- producers ------------------------------------------------------------------------
    @abstractmethod
    async def enqueue_many(
        self, jobs: Sequence[NewJob], *, now: datetime | None = None
    ) -> list[EnqueueResult]:
        """Create jobs, all or nothing, in request order; idempotency keys return existing jobs.

        Raises IdempotencyConflict when a key is reused with a different request.
        """

    async def enqueue(self, job: NewJob, *, now: datetime | None = None) -> EnqueueResult:
        return (await self.enqueue_many([job], now=now))[0]

    # ``owner``: only that API key's jobs (producer-scoped keys); a job of another owner is
    # JobNotFound, decided in the same read or write.
    @abstractmethod
    async def get_jobs(
        self, job_ids: Sequence[int], *, owner: str | None = None
    ) -> dict[int, Job]: ...

    async def get_job(self, job_id: int, *, owner: str | None = None) -> Job:
        from job_orchestrator.domain.errors import JobNotFound

        job = (await self.get_jobs([job_id], owner=owner)).get(job_id)
        if job is None:
            raise JobNotFound(f"job {job_id} does not exist")
        return job

    @abstractmethod
    async def list_jobs(self, filters: JobFilter) -> list[Job]: ...

    @abstractmethod
    async def list_attempts(self, job_id: int, *, owner: str | None = None) -> list[Attempt]: ...

    @abstractmethod
    async def cancel(
        self, job_id: int, *, owner: str | None = None, now: datetime | None = None
    ) -> Job: ...

    @abstractmethod
    async def retry(self, job_id: int, *, now: datetime | None = None) -> Job: ...

    @abstractmethod
    async def redrive(
        self,
        *,
        queue: str | None,
        type_: str | None,
        limit: int,
        now: datetime | None = None,
    ) -> int: ...

    # ---- workers --------------------------------------------------------------------------
    @abstractmethod
    async def lease(self, request: LeaseRequest, *, now: datetime | None = None) -> list[Lease]: ...

    @abstractmethod
    async def heartbeat_many(
        self, beats: Sequence[Heartbeat], *, now: datetime | None = None
    ) -> list[HeartbeatResult | DomainError]:
        """Per item: the extended lease (or the cancellation to report), or why not
        (JobNotFound, LeaseLost)."""

    async def heartbeat(
        self,
        job_id: int,
        lease_token: str,
        *,
        details: JSON = None,
        set_details: bool = False,
        now: datetime | None = None,
    ) -> HeartbeatResult:
        beat = Heartbeat(job_id, lease_token, details, set_details)
        outcome = (await self.heartbeat_many([beat], now=now))[0]
        if isinstance(outcome, DomainError):
            raise outcome
        return outcome

    @abstractmethod
    async def complete_many(
        self,
        completions: Sequence[Completion],
        *,
        now: datetime | None = None,
        return_jobs: bool = True,
    ) -> list[Job | Completed | DomainError]:
        """Per item: the succeeded job (also for an exact replay) or the error that applies.

        With ``return_jobs=False`` a success is a small ``Completed`` instead of the whole job:
        the batch path of workers, which need only the verdict.
        """

    async def complete(self, completion: Completion, *, now: datetime | None = None) -> Job:
        outcome = (await self.complete_many([completion], now=now))[0]
        if isinstance(outcome, DomainError):
            raise outcome
        assert isinstance(outcome, Job)
        return outcome

    @abstractmethod
    async def fail(
        self, job_id: int, lease_token: str, failure: FailureInfo, *, now: datetime | None = None
    ) -> Job: ...

    @abstractmethod
    async def release_many(
        self, leases: Sequence[tuple[int, str]], *, now: datetime | None = None
    ) -> list[DomainError | None]:
        """Hand back (job id, lease token) pairs whose work never started: each job is pending
        again with its attempt given back. Per pair: None, or why nothing changed
        (JobNotFound, LeaseLost)."""

    # ---- maintenance ----------------------------------------------------------------------
    @abstractmethod
    async def reap_expired(self, *, batch_size: int, now: datetime | None = None) -> ReapResult:
        """End up to ``batch_size`` attempts whose lease or deadline passed."""

    @abstractmethod
    async def try_acquire_leadership(
        self, name: str, holder: str, *, ttl_seconds: float, now: datetime | None = None
    ) -> bool: ...

    @abstractmethod
    async def release_leadership(self, name: str, holder: str) -> None: ...

    @abstractmethod
    async def counts_by_queue_state(self) -> list[tuple[str, str, int]]: ...

    # ---- workers and API keys ---------------------------------------------------------------
    @abstractmethod
    async def record_worker_seen(
        self,
        worker_id: str,
        queues: Sequence[str],
        *,
        now: datetime | None = None,
        types: Sequence[str] | None = None,  # None: it asked for every type
    ) -> None: ...

    @abstractmethod
    async def list_workers(self, *, since: datetime, limit: int = 500) -> list[WorkerInfo]: ...

    @abstractmethod
    async def create_api_key(
        self, *, key_id: str, key_hash: str, scopes: Sequence[str], name: str | None
    ) -> None: ...

    @abstractmethod
    async def find_api_key(self, key_id: str) -> tuple[str, tuple[str, ...]] | None:
        """The (SHA-256 hash, scopes) of the active key with this id."""

    @abstractmethod
    async def list_api_keys(self) -> list[ApiKeyRecord]: ...

    @abstractmethod
    async def revoke_api_key(self, key_id: str) -> bool: ...

    @abstractmethod
    async def count_active_api_keys(self) -> int: ...

    # ---- wake-ups -------------------------------------------------------------------------
    @abstractmethod
    async def start_listening(self, on_queue_ready: QueueReadyCallback) -> None:
        """Call ``on_queue_ready(queue)`` soon after jobs become ready in ``queue``."""

    @abstractmethod
    async def seconds_until_next_due(
        self, queues: Sequence[str], *, now: datetime | None = None
    ) -> float | None:
        """Seconds from now to the earliest ``run_at`` of a pending job of ``queues`` that is
        still in the future; None if there is none (the long polls' fallback timer)."""

    # ---- schedules --------------------------------------------------------------------------
    @abstractmethod
    async def put_schedule(
        self, definition: ScheduleDefinition, *, now: datetime | None = None
    ) -> tuple[Schedule, bool]:
        """Create or replace a schedule whole; (the schedule, True when it was created)."""

    @abstractmethod
    async def get_schedule(self, name: str) -> Schedule:
        """The schedule, or ScheduleNotFound."""

    @abstractmethod
    async def list_schedules(self, *, limit: int, after: str | None = None) -> list[Schedule]:
        """By name; ``after``: the last name of the previous page."""

    @abstractmethod
    async def delete_schedule(self, name: str) -> None:
        """ScheduleNotFound if there is none; the jobs it enqueued stay."""

    @abstractmethod
    async def set_schedule_paused(
        self, name: str, paused: bool, *, now: datetime | None = None
    ) -> Schedule:
        """Pause (next_fire_at null) or resume (from the next fire time after now)."""

    @abstractmethod
    async def run_due_schedules(
        self, *, batch_size: int, now: datetime | None = None
    ) -> SchedulerStep:
        """Process up to ``batch_size`` due schedules in one transaction: enqueue the job of
        each fire time (key ``schedule:{name}:{T}``) and advance the schedule."""

    # ---- v1.1: readiness, queues, snooze, retention -----------------------------------------
    @abstractmethod
    async def readiness(self, job_id: int, *, now: datetime | None = None) -> dict[str, bool]:
        """Each readiness rule (readiness.READINESS_RULES, by reason code) evaluated for one job:
        True when the rule lets it run. JobNotFound if it does not exist."""

    @abstractmethod
    async def put_queue(
        self, name: str, change: QueueChange, *, now: datetime | None = None
    ) -> QueueSettings:
        """Create or update a queue's settings; resuming wakes the queue's long polls."""

    @abstractmethod
    async def queue_settings(self, name: str) -> QueueSettings:
        """The stored settings, or the defaults for a queue without a row."""

    @abstractmethod
    async def list_queues(
        self, *, name: str | None = None, now: datetime | None = None
    ) -> list[QueueInfo]:
        """Every queue that holds jobs or has settings (or just ``name``), by name."""

    @abstractmethod
    async def snooze(self, snooze: Snooze, *, now: datetime | None = None) -> Job:
        """leased -> pending at now + delay, the attempt ended ``snoozed`` and not counted.
        Fenced like complete: JobNotFound, LeaseLost."""

    @abstractmethod
    async def delete_expired(
        self, state: str, *, retain_seconds: float, limit: int, now: datetime | None = None
    ) -> int:
        """Delete up to ``limit`` jobs in terminal ``state`` finished at least ``retain_seconds``
        ago (oldest first), with their attempts, completion and idempotency key; add them to
        the shared deleted counter. How many were deleted."""

    @abstractmethod
    async def deleted_total(self) -> int:
        """Jobs deleted by the cleaner, ever, by any server process."""

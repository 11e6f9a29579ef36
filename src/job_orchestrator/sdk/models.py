"""Typed views of the wire objects (api-v1.md). Frozen dataclasses: cheap, no validation
library on the worker host; unknown fields the server adds later are ignored."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypedDict


class JobState(StrEnum):
    PENDING = "pending"
    LEASED = "leased"
    SUCCEEDED = "succeeded"
    DLQ = "dlq"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.DLQ, JobState.CANCELLED)


def parse_time(value: Any) -> datetime | None:
    # Python 3.11's fromisoformat reads RFC 3339 with a trailing Z.
    return None if value is None else datetime.fromisoformat(value)


def _time(value: Any) -> datetime:
    parsed = parse_time(value)
    if parsed is None:
        raise ValueError("a required time field is null")
    return parsed


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff before attempt n+1: ``min(max_seconds, initial_seconds * multiplier**(n-1))``,
    with full jitter when ``jitter``."""

    initial_seconds: float = 1.0
    multiplier: float = 2.0
    max_seconds: float = 300.0
    jitter: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "initial_seconds": self.initial_seconds,
            "multiplier": self.multiplier,
            "max_seconds": self.max_seconds,
            "jitter": self.jitter,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RetryPolicy:
        return cls(
            initial_seconds=float(data["initial_seconds"]),
            multiplier=float(data["multiplier"]),
            max_seconds=float(data["max_seconds"]),
            jitter=bool(data["jitter"]),
        )


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    queue: str
    type: str
    payload: Any
    state: JobState
    priority: int
    attempts: int
    max_attempts: int
    run_at: datetime
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    lease_expires_at: datetime | None
    timeout_seconds: float | None
    lease_seconds: float
    retry: RetryPolicy
    idempotency_key: str | None
    result: Any
    last_error: Any
    heartbeat_details: Any
    cancel_requested: bool
    # v1.1: the schedule that enqueued the job and its fire time (None on older servers).
    schedule: str | None = None
    scheduled_for: datetime | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        return cls(
            id=str(data["id"]),
            queue=data["queue"],
            type=data["type"],
            payload=data.get("payload"),
            state=JobState(data["state"]),
            priority=int(data["priority"]),
            attempts=int(data["attempts"]),
            max_attempts=int(data["max_attempts"]),
            run_at=_time(data["run_at"]),
            created_at=_time(data["created_at"]),
            updated_at=_time(data["updated_at"]),
            finished_at=parse_time(data.get("finished_at")),
            lease_expires_at=parse_time(data.get("lease_expires_at")),
            timeout_seconds=data.get("timeout_seconds"),
            lease_seconds=float(data["lease_seconds"]),
            retry=RetryPolicy.from_dict(data["retry"]),
            idempotency_key=data.get("idempotency_key"),
            result=data.get("result"),
            last_error=data.get("last_error"),
            heartbeat_details=data.get("heartbeat_details"),
            cancel_requested=bool(data.get("cancel_requested", False)),
            schedule=data.get("schedule"),
            scheduled_for=parse_time(data.get("scheduled_for")),
        )


@dataclass(frozen=True, slots=True)
class Attempt:
    attempt: int
    worker_id: str
    leased_at: datetime
    finished_at: datetime | None
    outcome: str | None  # succeeded, failed, lease_expired, timed_out, cancelled; None: running
    error: Any

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Attempt:
        return cls(
            attempt=int(data["attempt"]),
            worker_id=data["worker_id"],
            leased_at=_time(data["leased_at"]),
            finished_at=parse_time(data.get("finished_at")),
            outcome=data.get("outcome"),
            error=data.get("error"),
        )


@dataclass(frozen=True, slots=True)
class JobPage:
    jobs: list[Job]
    next_cursor: str | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobPage:
        return cls([Job.from_dict(j) for j in data["jobs"]], data.get("next_cursor"))


@dataclass(frozen=True, slots=True)
class Lease:
    """One job handed to a worker. ``repr`` hides the token so it never reaches a log."""

    job_id: str
    lease_token: str = field(repr=False)
    attempt: int
    lease_expires_at: datetime
    deadline: datetime | None
    queue: str
    type: str
    payload: Any
    heartbeat_details: Any
    lease_seconds: float
    timeout_seconds: float | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Lease:
        return cls(
            job_id=str(data["job_id"]),
            lease_token=data["lease_token"],
            attempt=int(data["attempt"]),
            lease_expires_at=_time(data["lease_expires_at"]),
            deadline=parse_time(data.get("deadline")),
            queue=data["queue"],
            type=data["type"],
            payload=data.get("payload"),
            heartbeat_details=data.get("heartbeat_details"),
            # Extension fields; an older server lacks them: fall back to the contract default.
            lease_seconds=float(data.get("lease_seconds") or 30.0),
            timeout_seconds=data.get("timeout_seconds"),
        )


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One job for ``enqueue_many``; the fields are ``enqueue``'s options."""

    type: str
    payload: Any = None
    queue: str | None = None
    priority: int | None = None
    run_at: datetime | None = None
    delay_seconds: float | None = None
    max_attempts: int | None = None
    retry: RetryPolicy | None = None
    lease_seconds: float | None = None
    timeout_seconds: float | None = None
    idempotency_key: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The request body: only the options given, so the server's defaults apply."""
        body: dict[str, Any] = {"type": self.type, "payload": self.payload}
        for name in ("queue", "priority", "delay_seconds", "max_attempts", "lease_seconds"):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        if self.timeout_seconds is not None:
            body["timeout_seconds"] = self.timeout_seconds
        if self.idempotency_key is not None:
            body["idempotency_key"] = self.idempotency_key
        if self.run_at is not None:
            # A naive time means local time (Python's convention); the wire wants UTC.
            body["run_at"] = self.run_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        if self.retry is not None:
            body["retry"] = self.retry.to_dict()
        return body


class EnqueueOptions(TypedDict, total=False):
    """The contract's enqueue options, as keyword arguments of ``enqueue``."""

    queue: str
    priority: int
    run_at: datetime
    delay_seconds: float
    max_attempts: int
    retry: RetryPolicy
    lease_seconds: float
    timeout_seconds: float
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    """A worker the server saw asking for jobs (``GET /v1/workers``, an extension)."""

    worker_id: str
    queues: list[str]
    types: list[str] | None  # None: it asks for every type
    last_seen_at: datetime
    leases_held: int
    polling: bool  # it asked within the last minute

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkerStatus:
        types = data.get("types")
        return cls(
            worker_id=data["worker_id"],
            queues=list(data["queues"]),
            types=None if types is None else list(types),
            last_seen_at=_time(data["last_seen_at"]),
            leases_held=int(data.get("leases_held", 0)),
            polling=bool(data.get("polling", True)),
        )


# ---- schedules (api-v1.1.md, "Schedules") ------------------------------------------------------
def _job_body(job: JobSpec | dict[str, Any]) -> dict[str, Any]:
    return job.to_dict() if isinstance(job, JobSpec) else dict(job)


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """What a schedule should be: the body of ``PUT /v1/schedules/{name}`` plus its name.

    Exactly one of ``cron`` and ``every_seconds``. ``job`` is the enqueue body without
    ``run_at``, ``delay_seconds`` and ``idempotency_key`` (a dict, or a ``JobSpec``).
    ``paused`` None means "as it is" for ``apply_schedules`` (a new schedule starts unpaused),
    so applying a file never resumes a schedule an operator paused unless the file says so.
    """

    name: str
    job: JobSpec | dict[str, Any]
    cron: str | None = None
    every_seconds: int | None = None
    timezone: str = "UTC"
    overlap: str = "skip"
    catchup_window_seconds: int = 60
    paused: bool | None = None

    def to_dict(self, *, paused: bool = False) -> dict[str, Any]:
        """The PUT body; ``paused`` is used when the spec leaves it open."""
        body: dict[str, Any] = {
            "timezone": self.timezone,
            "job": _job_body(self.job),
            "overlap": self.overlap,
            "catchup_window_seconds": self.catchup_window_seconds,
            "paused": paused if self.paused is None else self.paused,
        }
        if self.cron is not None:
            body["cron"] = self.cron
        if self.every_seconds is not None:
            body["every_seconds"] = self.every_seconds
        return body


@dataclass(frozen=True, slots=True)
class Schedule:
    name: str
    cron: str | None
    every_seconds: int | None
    timezone: str
    job: dict[str, Any]
    overlap: str
    catchup_window_seconds: int
    paused: bool
    next_fire_at: datetime | None  # None while paused
    last_fire_at: datetime | None
    last_job_id: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schedule:
        every = data.get("every_seconds")
        last_job = data.get("last_job_id")
        return cls(
            name=data["name"],
            cron=data.get("cron"),
            every_seconds=None if every is None else int(every),
            timezone=data.get("timezone") or "UTC",
            job=dict(data.get("job") or {}),
            overlap=data.get("overlap") or "skip",
            catchup_window_seconds=int(data.get("catchup_window_seconds", 60)),
            paused=bool(data.get("paused", False)),
            next_fire_at=parse_time(data.get("next_fire_at")),
            last_fire_at=parse_time(data.get("last_fire_at")),
            last_job_id=None if last_job is None else str(last_job),
            created_at=_time(data["created_at"]),
            updated_at=_time(data["updated_at"]),
        )

    def to_spec(self) -> ScheduleSpec:
        return ScheduleSpec(
            name=self.name,
            job=self.job,
            cron=self.cron,
            every_seconds=self.every_seconds,
            timezone=self.timezone,
            overlap=self.overlap,
            catchup_window_seconds=self.catchup_window_seconds,
            paused=self.paused,
        )


@dataclass(frozen=True, slots=True)
class SchedulePage:
    schedules: list[Schedule]
    next_cursor: str | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SchedulePage:
        return cls([Schedule.from_dict(s) for s in data["schedules"]], data.get("next_cursor"))


@dataclass(frozen=True, slots=True)
class ScheduleDiff:
    """What ``apply_schedules`` changed (or, with ``dry_run``, would change): names, sorted."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)


@dataclass(frozen=True, slots=True)
class Queue:
    """A queue as ``GET /v1/queues`` shows it (v1.1)."""

    name: str
    paused: bool
    counts: dict[str, int]
    oldest_ready_seconds: float | None  # age of the oldest ready job; None when none is ready
    rate_limit_per_second: float | None
    concurrency_limit: int | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Queue:
        return cls(
            name=data["name"],
            paused=bool(data["paused"]),
            counts={str(k): int(v) for k, v in (data.get("counts") or {}).items()},
            oldest_ready_seconds=data.get("oldest_ready_seconds"),
            rate_limit_per_second=data.get("rate_limit_per_second"),
            concurrency_limit=data.get("concurrency_limit"),
        )

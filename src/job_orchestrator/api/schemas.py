"""Request and response models of API v1 (fixed by shared/spec/api-v1.md).

Requests are validated here, with bounds the database can hold, so bad input is a 4xx naming
the field. Responses are built as plain dicts on the hot path (see ``serialize``); the response
models below describe them truthfully in the OpenAPI document.
"""

from __future__ import annotations

import functools
from datetime import datetime
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from job_orchestrator.domain.schedules import CRON_PATTERN, timezone_names
from job_orchestrator.domain.states import AttemptOutcome, JobState

MAX_SECONDS = 366 * 24 * 3600.0  # a year: longer delays and leases are surely mistakes


def _clean_text(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and lone surrogates cannot be encoded: refuse both here
    # so SQLite and PostgreSQL accept exactly the same input.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode()
    except UnicodeEncodeError as error:
        raise ValueError("must be valid Unicode text") from error
    return value


# No NUL (PostgreSQL text cannot hold it): in the pattern, so the OpenAPI document says so.
def _base_type(annotation: Any) -> Any:
    """``float | None`` -> float; other annotations unchanged."""
    members = [a for a in get_args(annotation) if a is not type(None)]
    return (
        members[0]
        if get_origin(annotation) in (Union, UnionType) and len(members) == 1
        else annotation
    )


@functools.cache
def _field_kind(model: type[BaseModel], name: str) -> Any:
    # Cached: this runs for every field of every item of a 1,000-job batch, and pydantic's
    # model_fields lookup plus the annotation walk were ~8% of a batch enqueue.
    return _base_type(model.model_fields[name].annotation)


def json_schema_typed(name: str, kind: Any, value: Any) -> Any:
    """JSON Schema semantics where pydantic's lax mode differs: ``true`` is not a number,
    ``1`` is not a boolean, ``0`` is not a date-time (6.0 stays a valid integer). ``kind`` is
    the field's type without ``| None``."""
    if value is None:  # optional fields; required ones are refused by their own type
        return value
    if kind in (int, float) and isinstance(value, bool):
        raise ValueError(f"{name} must be a number, not a boolean")
    if kind in (int, float) and isinstance(value, str):
        # Pydantic's lax mode would read "3" as 3; the schema says integer (or number).
        raise ValueError(f"{name} must be a number, not a string")
    if kind is bool and not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    if kind is datetime and not isinstance(value, str | datetime):
        raise ValueError(f"{name} must be an RFC 3339 date-time string")
    return value


Name = Annotated[
    str, Field(min_length=1, max_length=255, pattern=r"^[^\x00]+$"), AfterValidator(_clean_text)
]
# JSON Schema semantics: 6.0 is an integer, but `true` is not a number and `0` is not a time.


class Strict(BaseModel):
    # Unknown fields are refused: a typo such as "priorty" must not silently do nothing.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _json_types(cls, value: Any, info: ValidationInfo) -> Any:
        name = info.field_name or "value"
        return json_schema_typed(name, _field_kind(cls, name), value)


class RetryPolicyModel(Strict):
    initial_seconds: float = Field(default=1.0, gt=0, le=MAX_SECONDS)
    multiplier: float = Field(
        default=2.0,
        ge=1.0,
        le=100.0,
        allow_inf_nan=False,
    )
    max_seconds: float = Field(default=300.0, gt=0, le=MAX_SECONDS)
    jitter: bool = True


class EnqueueRequest(Strict):
    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        # run_at and delay_seconds exclude each other; said in the schema so clients know.
        json_schema_extra={
            "not": {
                "required": ["run_at", "delay_seconds"],
                "properties": {"run_at": {"type": "string"}, "delay_seconds": {"type": "number"}},
            }
        },
    )

    type: Name
    payload: Any = None
    queue: Name = "default"
    priority: int = Field(default=0, ge=0, le=9, description="0 runs first")
    run_at: datetime | None = None
    delay_seconds: float | None = Field(default=None, ge=0, le=MAX_SECONDS)
    max_attempts: int = Field(
        default=5,
        ge=1,
        le=1000,
    )
    retry: RetryPolicyModel = Field(default_factory=RetryPolicyModel)
    lease_seconds: float = Field(default=30.0, ge=0.1, le=MAX_SECONDS, allow_inf_nan=False)
    timeout_seconds: float | None = Field(default=None, gt=0, le=MAX_SECONDS)
    idempotency_key: Name | None = None

    @field_validator("run_at", mode="after")
    @classmethod
    def _run_at_has_a_zone(cls, value: datetime | None) -> datetime | None:
        # One rule for the API and the CLI: a time without a zone is refused, never guessed.
        if value is not None and value.utcoffset() is None:
            raise ValueError(
                "run_at needs a time zone (RFC 3339), e.g. 2030-01-01T09:00:00Z or "
                "2030-01-01T09:00:00+02:00"
            )
        return value

    @model_validator(mode="after")
    def _one_schedule(self) -> EnqueueRequest:
        if self.run_at is not None and self.delay_seconds is not None:
            raise ValueError("give run_at or delay_seconds, not both")
        return self


class EnqueueBatchRequest(Strict):
    jobs: list[EnqueueRequest] = Field(min_length=1, max_length=1000)


class RetryPolicyOut(BaseModel):
    initial_seconds: float
    multiplier: float
    max_seconds: float
    jitter: bool


class JobErrorOut(BaseModel):
    """Why an attempt ended badly (a job's ``last_error``, an attempt's ``error``)."""

    model_config = ConfigDict(extra="allow")

    message: str
    type: str | None = Field(
        default=None, description="the error's type: the handler's, or lease_expired, timed_out"
    )
    retryable: bool | None = None
    attempt: int | None = Field(default=None, description="the attempt it ended")


class JobOut(BaseModel):
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
    retry: RetryPolicyOut
    idempotency_key: str | None
    result: Any
    last_error: JobErrorOut | None
    heartbeat_details: Any
    cancel_requested: bool
    schedule: str | None = Field(default=None, description="the schedule that enqueued it")
    scheduled_for: datetime | None = Field(
        default=None, description="the fire time it was enqueued for (null: a trigger)"
    )


class JobListOut(BaseModel):
    jobs: list[JobOut]
    next_cursor: str | None


class JobBatchOut(BaseModel):
    jobs: list[JobOut]


class AttemptOut(BaseModel):
    attempt: int
    worker_id: str
    leased_at: datetime
    finished_at: datetime | None
    outcome: AttemptOutcome | None
    error: JobErrorOut | None


class AttemptListOut(BaseModel):
    attempts: list[AttemptOut]


class RedriveRequest(Strict):
    queue: Name | None = None
    type: Name | None = None
    limit: int = Field(
        default=1000,
        ge=1,
        le=100_000,
    )


class RedriveOut(BaseModel):
    redriven: int


class LeaseRequestModel(Strict):
    worker_id: Name
    queues: list[Name] = Field(default_factory=lambda: ["default"], min_length=1, max_length=100)
    types: list[Name] | None = Field(default=None, min_length=1, max_length=100)
    max_jobs: int = Field(
        default=1,
        ge=1,
        le=100,
    )
    wait_seconds: float = Field(
        default=0.0,
        ge=0,
        le=30,
        allow_inf_nan=False,
    )


class LeaseOut(BaseModel):
    job_id: str
    lease_token: str
    attempt: int
    lease_expires_at: datetime
    deadline: datetime | None
    queue: str
    type: str
    payload: Any
    heartbeat_details: Any
    lease_seconds: float = Field(description="extension: how long each heartbeat extends")
    timeout_seconds: float | None = Field(description="extension: the execution timeout")


class LeaseListOut(BaseModel):
    leases: list[LeaseOut]


Token = Annotated[str, Field(min_length=1, max_length=255)]


class HeartbeatRequest(Strict):
    lease_token: Token
    details: Any = None


class HeartbeatOut(BaseModel):
    lease_expires_at: datetime | None
    cancel_requested: bool


class CompleteRequest(Strict):
    lease_token: Token
    result: Any = None
    idempotency_key: Name | None = None
    details: Any = Field(
        default=None,
        description="extension: the handler's last progress, stored as the job's "
        "heartbeat_details with the completion (as a heartbeat's details are); "
        "omitted: the stored details stay",
    )


class ErrorInfoModel(Strict):
    message: str = Field(max_length=65_536)
    type: Name | None = None
    retryable: bool = True
    retry_after_seconds: float | None = Field(
        default=None,
        ge=0,
        le=MAX_SECONDS,
        description="extension: replaces the backoff (0 = retry at once, e.g. interrupted)",
    )


class FailRequest(Strict):
    lease_token: Token
    error: ErrorInfoModel


# ---- batch worker calls (extensions) ------------------------------------------------------------
class CompleteItem(CompleteRequest):
    job_id: str = Field(min_length=1, max_length=40)


class CompleteBatchRequest(Strict):
    completions: list[CompleteItem] = Field(min_length=1, max_length=1000)
    include_jobs: bool = Field(
        default=False, description="return each completed job (workers rarely need it)"
    )


class FieldErrorOut(BaseModel):
    """One invalid input of a 422 answer."""

    field: str = Field(description="where, e.g. body.priority or query.limit")
    message: str
    type: str | None = None


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[FieldErrorOut] | dict[str, Any] | None = Field(
        default=None,
        description="422: the invalid fields; otherwise an object or null "
        "(already_completed: {result}, forbidden: {needs}, rate_limited: {retry_after_seconds})",
    )


class CompleteItemOut(BaseModel):
    job_id: str
    status: int = Field(description="200, or the status the single call would have answered")
    job: JobOut | None = None
    error: ErrorBody | None = None


class CompleteBatchOut(BaseModel):
    results: list[CompleteItemOut]


class HeartbeatItem(HeartbeatRequest):
    job_id: str = Field(min_length=1, max_length=40)


class HeartbeatBatchRequest(Strict):
    heartbeats: list[HeartbeatItem] = Field(min_length=1, max_length=1000)


class HeartbeatItemOut(BaseModel):
    job_id: str
    status: int
    lease_expires_at: datetime | None = None
    cancel_requested: bool | None = None
    error: ErrorBody | None = None


class HeartbeatBatchOut(BaseModel):
    results: list[HeartbeatItemOut]


class ReleaseItem(Strict):
    job_id: str = Field(min_length=1, max_length=40)
    lease_token: Token


class ReleaseBatchRequest(Strict):
    releases: list[ReleaseItem] = Field(min_length=1, max_length=1000)


class ReleaseItemOut(BaseModel):
    job_id: str
    status: int = Field(description="200 (pending again, attempt given back), 404 or 409")
    error: ErrorBody | None = None


class ReleaseBatchOut(BaseModel):
    results: list[ReleaseItemOut]


class ErrorOut(BaseModel):
    error: ErrorBody


# ---- operations (documented shapes) -------------------------------------------------------------
class HealthOut(BaseModel):
    status: str


class ReadyOut(BaseModel):
    status: str
    database: str = Field(description="sqlite or postgresql")


class MetricsOut(BaseModel):
    jobs: dict[str, dict[str, int]] = Field(description="job counts by queue, then by state")
    totals: dict[str, int] = Field(description="this process's counters (leased, succeeded, ...)")
    totals_scope: str


# ---- workers seen by the lease path (extension) -------------------------------------------------
class WorkerOut(BaseModel):
    worker_id: str
    queues: list[str]
    types: list[str] | None = Field(description="the job types it asks for; null: every type")
    last_seen_at: datetime
    leases_held: int
    polling: bool = Field(description="it asked for jobs within the last 60 s")


class WorkerListOut(BaseModel):
    workers: list[WorkerOut]


# ---- schedules (v1.1) -----------------------------------------------------------------------
MAX_EVERY_SECONDS = 2**31 - 1  # a bound the database and datetime arithmetic hold (~68 years)


class ScheduleJobModel(Strict):
    """The enqueue body of POST /v1/jobs without run_at, delay_seconds and idempotency_key."""

    type: Name
    payload: Any = None
    queue: Name = "default"
    priority: int = Field(default=0, ge=0, le=9, description="0 runs first")
    max_attempts: int = Field(default=5, ge=1, le=1000)
    retry: RetryPolicyModel = Field(default_factory=RetryPolicyModel)
    lease_seconds: float = Field(default=30.0, ge=0.1, le=MAX_SECONDS, allow_inf_nan=False)
    timeout_seconds: float | None = Field(default=None, gt=0, le=MAX_SECONDS)


def _valid_cron(value: str | None) -> str | None:
    from job_orchestrator.domain.schedules import InvalidSchedule, ScheduleSpec

    if value is not None:
        try:
            ScheduleSpec(cron=value, every_seconds=None)
        except InvalidSchedule as error:
            raise ValueError(error.message.removeprefix("cron: ")) from error
    return value


def _valid_timezone(value: str) -> str:
    from job_orchestrator.domain.schedules import InvalidSchedule, zone

    try:
        zone(value)
    except InvalidSchedule as error:
        raise ValueError(error.message.removeprefix("timezone: ")) from error
    return value


_GIVEN: dict[str, dict[str, Any]] = {
    "cron": {"required": ["cron"], "properties": {"cron": {"type": "string"}}},
    "every_seconds": {
        "required": ["every_seconds"],
        "properties": {"every_seconds": {"type": "integer"}},
    },
}


class SchedulePutRequest(Strict):
    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        # Exactly one of cron and every_seconds (a null one counts as absent).
        json_schema_extra={
            "oneOf": [
                {**_GIVEN["cron"], "not": _GIVEN["every_seconds"]},
                {**_GIVEN["every_seconds"], "not": _GIVEN["cron"]},
            ]
        },
    )

    cron: Annotated[
        str | None,
        Field(
            default=None,
            min_length=1,
            max_length=255,
            description="5 fields (minute hour day-of-month month day-of-week: *, lists, "
            "ranges, steps, names) or @hourly, @daily, @weekly, @monthly, @yearly",
            json_schema_extra={"pattern": CRON_PATTERN},
        ),
        AfterValidator(_valid_cron),
    ] = None
    every_seconds: int | None = Field(default=None, ge=1, le=MAX_EVERY_SECONDS)
    timezone: Annotated[
        str,
        Field(
            min_length=1,
            max_length=255,
            description="an IANA time zone name",
            json_schema_extra={"enum": sorted(timezone_names())},
        ),
        AfterValidator(_valid_timezone),
    ] = "UTC"
    job: ScheduleJobModel
    overlap: Literal["skip", "allow"] = "skip"
    catchup_window_seconds: int = Field(default=60, ge=0, le=31_536_000)
    paused: bool = False

    @model_validator(mode="after")
    def _one_spec(self) -> SchedulePutRequest:
        if (self.cron is None) == (self.every_seconds is None):
            raise ValueError("cron, every_seconds: give exactly one of cron and every_seconds")
        return self


class ScheduleJobOut(BaseModel):
    type: str
    payload: Any
    queue: str
    priority: int
    max_attempts: int
    retry: RetryPolicyOut
    lease_seconds: float
    timeout_seconds: float | None


class ScheduleOut(BaseModel):
    name: str
    cron: str | None
    every_seconds: int | None
    timezone: str
    job: ScheduleJobOut
    overlap: Literal["skip", "allow"]
    catchup_window_seconds: int
    paused: bool
    next_fire_at: datetime | None = Field(description="the next fire time (null while paused)")
    last_fire_at: datetime | None
    last_job_id: str | None
    created_at: datetime
    updated_at: datetime


class ScheduleListOut(BaseModel):
    schedules: list[ScheduleOut]
    next_cursor: str | None


# ---- v1.1: queues, snooze -----------------------------------------------------------------------
MAX_SNOOZE_SECONDS = 31_536_000


class QueueSettingsRequest(Strict):
    """Any of the fields; those not given keep their stored value."""

    # Not nullable: whether it was given at all is model_fields_set's to say.
    paused: bool = Field(default=False, description="A paused queue leases nothing")
    rate_limit_per_second: float | None = Field(
        default=None,
        gt=0,
        le=1_000_000,
        description="Stored and returned; enforced by a later release (flow control). "
        "null: no limit",
    )
    concurrency_limit: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="Stored and returned; enforced by a later release (flow control). "
        "null: no limit",
    )


class QueueOut(BaseModel):
    name: str
    paused: bool
    counts: dict[str, int] = Field(description="jobs by state (every state, 0 included)")
    oldest_ready_seconds: float | None = Field(
        description="Age (now - run_at) of the oldest ready pending job; null when none is "
        "ready (a paused queue has no ready job)"
    )
    rate_limit_per_second: float | None = Field(
        description="Stored; enforced by a later release (flow control)"
    )
    concurrency_limit: int | None = Field(
        description="Stored; enforced by a later release (flow control)"
    )


class QueueListOut(BaseModel):
    queues: list[QueueOut]


class SnoozeRequest(Strict):
    lease_token: Token
    delay_seconds: float = Field(ge=0, le=MAX_SNOOZE_SECONDS, description="run_at = now + this")
    details: Any = Field(
        default=None, description="Stored as heartbeat_details and handed to the next attempt"
    )

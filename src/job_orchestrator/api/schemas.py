"""Request and response models of API v1 (fixed by shared/spec/api-v1.md).

Requests are validated here, with bounds the database can hold, so bad input is a 4xx naming
the field. Responses are built as plain dicts on the hot path (see ``serialize``); the response
models below describe them truthfully in the OpenAPI document.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

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


Name = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_clean_text)]
Seconds = Annotated[float, Field(ge=0, le=MAX_SECONDS, allow_inf_nan=False)]
PositiveSeconds = Annotated[float, Field(gt=0, le=MAX_SECONDS, allow_inf_nan=False)]


class Strict(BaseModel):
    # Unknown fields are refused: a typo such as "priorty" must not silently do nothing.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class RetryPolicyModel(Strict):
    initial_seconds: PositiveSeconds = 1.0
    multiplier: float = Field(default=2.0, ge=1.0, le=100.0, allow_inf_nan=False)
    max_seconds: PositiveSeconds = 300.0
    jitter: bool = True


class EnqueueRequest(Strict):
    type: Name
    payload: Any = None
    queue: Name = "default"
    priority: int = Field(default=0, ge=0, le=9, description="0 runs first")
    run_at: datetime | None = None
    delay_seconds: Seconds | None = None
    max_attempts: int = Field(default=5, ge=1, le=1000)
    retry: RetryPolicyModel = Field(default_factory=RetryPolicyModel)
    lease_seconds: float = Field(default=30.0, ge=0.1, le=MAX_SECONDS, allow_inf_nan=False)
    timeout_seconds: PositiveSeconds | None = None
    idempotency_key: Name | None = None

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
    last_error: Any
    heartbeat_details: Any
    cancel_requested: bool


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
    error: Any


class AttemptListOut(BaseModel):
    attempts: list[AttemptOut]


class RedriveRequest(Strict):
    queue: Name | None = None
    type: Name | None = None
    limit: int = Field(default=1000, ge=1, le=100_000)


class RedriveOut(BaseModel):
    redriven: int


class LeaseRequestModel(Strict):
    worker_id: Name
    queues: list[Name] = Field(default_factory=lambda: ["default"], min_length=1, max_length=100)
    types: list[Name] | None = Field(default=None, min_length=1, max_length=100)
    max_jobs: int = Field(default=1, ge=1, le=100)
    wait_seconds: float = Field(default=0.0, ge=0, le=30, allow_inf_nan=False)


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


class ErrorInfoModel(Strict):
    message: str = Field(max_length=65_536)
    type: Name | None = None
    retryable: bool = True
    retry_after_seconds: Seconds | None = Field(
        default=None,
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


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


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


class ErrorOut(BaseModel):
    error: ErrorBody

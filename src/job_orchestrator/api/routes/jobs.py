"""Producer calls: enqueue, read, list, cancel, retry, dead-letter queue."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from job_orchestrator.api import deps
from job_orchestrator.api.auth import Admin, Principal, Producer, ProducerOrReader, Reader
from job_orchestrator.api.ratelimit import RateLimit
from job_orchestrator.api.responses import OrjsonResponse
from job_orchestrator.api.schemas import (
    AttemptListOut,
    EnqueueBatchRequest,
    EnqueueRequest,
    ErrorOut,
    JobBatchOut,
    JobListOut,
    JobOut,
    RedriveOut,
    RedriveRequest,
)
from job_orchestrator.api.serialize import attempt_dict, job_dict
from job_orchestrator.domain.models import JobFilter, NewJob
from job_orchestrator.domain.retry import RetryPolicy
from job_orchestrator.domain.states import JobState

router = APIRouter(tags=["producers"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "Unknown job id"}
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorOut, "description": "The job's state does not allow this"}
}


def to_new_job(
    body: EnqueueRequest, limit: int, owner: str | None, field: str = "payload"
) -> NewJob:
    deps.check_json_field(body.payload, field, limit)
    return NewJob(
        type=body.type,
        payload=body.payload,
        queue=body.queue,
        priority=body.priority,
        run_at=body.run_at,
        delay_seconds=body.delay_seconds,
        max_attempts=body.max_attempts,
        retry=RetryPolicy(
            initial_seconds=body.retry.initial_seconds,
            multiplier=body.retry.multiplier,
            max_seconds=body.retry.max_seconds,
            jitter=body.retry.jitter,
        ),
        lease_seconds=body.lease_seconds,
        timeout_seconds=body.timeout_seconds,
        idempotency_key=body.idempotency_key,
        owner=owner,
    )


@router.post(
    "/v1/jobs",
    status_code=201,
    response_model=JobOut,
    responses={
        200: {"model": JobOut, "description": "Same idempotency_key and body: the existing job"},
        409: {"model": ErrorOut, "description": "idempotency_conflict"},
        413: {"model": ErrorOut, "description": "payload_too_large"},
        **deps.COMMON_ERRORS,
    },
)
async def enqueue(
    body: EnqueueRequest, request: Request, principal: Producer, _rate: RateLimit
) -> Response:
    new_job = to_new_job(body, deps.settings(request).max_json_field_bytes, principal.key_id)
    result = await deps.service(request).enqueue(new_job)
    return OrjsonResponse(job_dict(result.job), status_code=201 if result.created else 200)


@router.post(
    "/v1/jobs/batch",
    status_code=201,
    response_model=JobBatchOut,
    responses={409: {"model": ErrorOut}, 413: {"model": ErrorOut}, **deps.COMMON_ERRORS},
)
async def enqueue_batch(
    body: EnqueueBatchRequest, request: Request, principal: Producer, _rate: RateLimit
) -> Response:
    limit = deps.settings(request).max_json_field_bytes
    new_jobs = [
        to_new_job(job, limit, principal.key_id, f"jobs.{i}.payload")
        for i, job in enumerate(body.jobs)
    ]
    results = await deps.service(request).enqueue_many(new_jobs)
    return OrjsonResponse({"jobs": [job_dict(r.job) for r in results]}, status_code=201)


@router.get(
    "/v1/jobs/{job_id}",
    response_model=JobOut,
    responses={**NOT_FOUND, **deps.COMMON_ERRORS},
)
async def get_job(
    job_id: str,
    request: Request,
    principal: ProducerOrReader,
    wait_seconds: float = Query(
        default=0.0, ge=0, le=30, description="hold until the job is terminal or the wait ends"
    ),
) -> Response:
    job = await deps.service(request).get(
        deps.parse_job_id(job_id), owner=visible_owner(principal), wait_seconds=wait_seconds
    )
    return OrjsonResponse(job_dict(job))


def visible_owner(principal: Principal) -> str | None:
    """Whose jobs this caller may see: producer-only keys their own (None: everyone's)."""
    return principal.key_id if principal.sees_only_own_jobs else None


async def _list(
    request: Request,
    principal: Principal,
    *,
    queue: str | None,
    state: JobState | None,
    type_: str | None,
    limit: int,
    cursor: str | None,
) -> Response:
    filters = JobFilter(
        queue=queue,
        state=state,
        type=type_,
        limit=limit,
        before_id=deps.parse_cursor(cursor),
        owner=visible_owner(principal),
    )
    jobs = await deps.service(request).list_jobs(filters)
    next_cursor = str(jobs[-1].id) if len(jobs) == limit else None
    return OrjsonResponse({"jobs": [job_dict(j) for j in jobs], "next_cursor": next_cursor})


@router.get("/v1/jobs", response_model=JobListOut, responses=deps.COMMON_ERRORS)
async def list_jobs(
    request: Request,
    principal: ProducerOrReader,
    queue: str | None = Query(default=None, min_length=1, max_length=255),
    state: JobState | None = Query(default=None),
    type_: str | None = Query(default=None, alias="type", min_length=1, max_length=255),
    limit: int = Query(default=50, ge=1, le=500),
    cursor: str | None = Query(
        default=None, pattern=r"^[0-9]{1,19}$", description="next_cursor of a page"
    ),
) -> Response:
    """Newest first; pass ``next_cursor`` back as ``cursor`` for the next page."""
    return await _list(
        request, principal, queue=queue, state=state, type_=type_, limit=limit, cursor=cursor
    )


@router.get(
    "/v1/jobs/{job_id}/attempts",
    response_model=AttemptListOut,
    responses={**NOT_FOUND, **deps.COMMON_ERRORS},
)
async def list_attempts(job_id: str, request: Request, principal: ProducerOrReader) -> Response:
    attempts = await deps.service(request).attempts(
        deps.parse_job_id(job_id), owner=visible_owner(principal)
    )
    return OrjsonResponse({"attempts": [attempt_dict(a) for a in attempts]})


@router.post(
    "/v1/jobs/{job_id}/cancel",
    response_model=JobOut,
    responses={**NOT_FOUND, **CONFLICT, **deps.COMMON_ERRORS},
)
async def cancel_job(job_id: str, request: Request, principal: Producer) -> Response:
    job = await deps.service(request).cancel(
        deps.parse_job_id(job_id), owner=visible_owner(principal)
    )
    return OrjsonResponse(job_dict(job))


@router.post(
    "/v1/jobs/{job_id}/retry",
    response_model=JobOut,
    responses={**NOT_FOUND, **CONFLICT, **deps.COMMON_ERRORS},
)
async def retry_job(job_id: str, request: Request, _principal: Admin) -> Response:
    job = await deps.service(request).retry(deps.parse_job_id(job_id))
    return OrjsonResponse(job_dict(job))


@router.get("/v1/dlq", response_model=JobListOut, responses=deps.COMMON_ERRORS)
async def list_dlq(
    request: Request,
    principal: Reader,
    queue: str | None = Query(default=None, min_length=1, max_length=255),
    type_: str | None = Query(default=None, alias="type", min_length=1, max_length=255),
    limit: int = Query(default=50, ge=1, le=500),
    cursor: str | None = Query(default=None, pattern=r"^[0-9]{1,19}$"),
) -> Response:
    return await _list(
        request, principal, queue=queue, state=JobState.DLQ, type_=type_, limit=limit, cursor=cursor
    )


@router.post("/v1/dlq/redrive", response_model=RedriveOut, responses=deps.COMMON_ERRORS)
async def redrive(
    request: Request, _principal: Admin, body: RedriveRequest | None = None
) -> Response:
    body = body or RedriveRequest()
    count = await deps.service(request).redrive(queue=body.queue, type_=body.type, limit=body.limit)
    return OrjsonResponse({"redriven": count})

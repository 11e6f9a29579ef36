"""Worker calls: lease (long poll), heartbeat, complete, fail, and their batch forms."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from job_orchestrator.api import deps
from job_orchestrator.api.auth import Reader, Worker
from job_orchestrator.api.errors import status_of
from job_orchestrator.api.ratelimit import RateLimit
from job_orchestrator.api.responses import OrjsonResponse
from job_orchestrator.api.schemas import (
    CompleteBatchOut,
    CompleteBatchRequest,
    CompleteItem,
    CompleteRequest,
    ErrorOut,
    FailRequest,
    HeartbeatBatchOut,
    HeartbeatBatchRequest,
    HeartbeatItem,
    HeartbeatOut,
    HeartbeatRequest,
    JobOut,
    LeaseListOut,
    LeaseRequestModel,
    ReleaseBatchOut,
    ReleaseBatchRequest,
    ReleaseItem,
    SnoozeRequest,
    WorkerListOut,
)
from job_orchestrator.api.serialize import error_dict, iso, job_dict, lease_dict, worker_dict
from job_orchestrator.domain.errors import DomainError
from job_orchestrator.domain.models import (
    Completed,
    Completion,
    FailureInfo,
    Heartbeat,
    HeartbeatResult,
    Job,
    LeaseRequest,
    Snooze,
)

router = APIRouter(tags=["workers"])

LEASE_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "Unknown job id"},
    409: {"model": ErrorOut, "description": "lease_lost (or already_completed for complete)"},
    **deps.COMMON_ERRORS,
}


@router.post("/v1/workers/lease", response_model=LeaseListOut, responses=deps.COMMON_ERRORS)
async def lease(
    body: LeaseRequestModel, request: Request, _principal: Worker, _rate: RateLimit
) -> Response:
    leases = await deps.service(request).lease(
        LeaseRequest(
            worker_id=body.worker_id,
            queues=tuple(dict.fromkeys(body.queues)),
            types=tuple(dict.fromkeys(body.types)) if body.types else None,
            max_jobs=body.max_jobs,
        ),
        wait_seconds=body.wait_seconds,
        disconnected=request.is_disconnected,
    )
    return OrjsonResponse({"leases": [lease_dict(lease) for lease in leases]})


@router.post("/v1/jobs/{job_id}/heartbeat", response_model=HeartbeatOut, responses=LEASE_ERRORS)
async def heartbeat(
    job_id: str, body: HeartbeatRequest, request: Request, _principal: Worker
) -> Response:
    deps.check_json_field(body.details, "details", deps.settings(request).max_json_field_bytes)
    result = await deps.service(request).heartbeat(
        deps.parse_job_id(job_id),
        body.lease_token,
        details=body.details,
        set_details="details" in body.model_fields_set,
    )
    return OrjsonResponse(
        {
            "lease_expires_at": iso(result.lease_expires_at),
            "cancel_requested": result.cancel_requested,
        }
    )


@router.post("/v1/jobs/{job_id}/complete", response_model=JobOut, responses=LEASE_ERRORS)
async def complete(
    job_id: str, body: CompleteRequest, request: Request, _principal: Worker
) -> Response:
    deps.check_json_field(body.result, "result", deps.settings(request).max_json_field_bytes)
    deps.check_json_field(body.details, "details", deps.settings(request).max_json_field_bytes)
    completion = Completion(
        job_id=deps.parse_job_id(job_id),
        lease_token=body.lease_token,
        result=body.result,
        idempotency_key=body.idempotency_key,
        details=body.details,
        set_details="details" in body.model_fields_set,
    )
    outcome = (await deps.service(request).complete_many([completion]))[0]
    if isinstance(outcome, DomainError):
        raise outcome
    assert isinstance(outcome, Job)
    return OrjsonResponse(job_dict(outcome))


@router.post("/v1/jobs/{job_id}/fail", response_model=JobOut, responses=LEASE_ERRORS)
async def fail(job_id: str, body: FailRequest, request: Request, _principal: Worker) -> Response:
    job = await deps.service(request).fail(
        deps.parse_job_id(job_id),
        body.lease_token,
        FailureInfo(
            message=body.error.message,
            type=body.error.type,
            retryable=body.error.retryable,
            retry_after_seconds=body.error.retry_after_seconds,
        ),
    )
    return OrjsonResponse(job_dict(job))


def _item_error(job_id: str, error: DomainError) -> dict[str, Any]:
    return {"job_id": job_id, "status": status_of(error), "error": error_dict(error)}


class _WireItem(Protocol):
    job_id: str


WireItem = TypeVar("WireItem", bound=_WireItem)
Parsed = TypeVar("Parsed")
Outcome = TypeVar("Outcome")


async def _each_item(
    items: Sequence[WireItem],
    check: Callable[[int, WireItem], tuple[int, Parsed]],
    call: Callable[[list[Parsed]], Awaitable[Sequence[Outcome | DomainError]]],
    answer: Callable[[Outcome], dict[str, Any]],
) -> Response:
    """The batch routes' loop: each item checked on its own (a bad one answers for itself with
    the 4xx naming its field), one service call for the valid ones, and each outcome answered
    at its item's position: ``answer`` adds a success's fields to its 200."""
    results: list[dict[str, Any] | None] = [None] * len(items)
    valid: list[tuple[int, int, Parsed]] = []  # position, job id, the domain item
    for i, item in enumerate(items):
        try:
            job_id, parsed = check(i, item)
        except DomainError as error:
            results[i] = _item_error(item.job_id, error)
            continue
        valid.append((i, job_id, parsed))
    outcomes = await call([parsed for _, _, parsed in valid])
    for (i, job_id, _), outcome in zip(valid, outcomes, strict=True):
        wire_id = str(job_id)
        if isinstance(outcome, DomainError):
            results[i] = _item_error(wire_id, outcome)
        else:
            results[i] = {"job_id": wire_id, "status": 200, **answer(outcome)}
    return OrjsonResponse({"results": results})


@router.post(
    "/v1/workers/complete",
    response_model=CompleteBatchOut,
    responses=deps.COMMON_ERRORS,
    summary="Complete many jobs (extension)",
)
async def complete_batch(
    body: CompleteBatchRequest, request: Request, _principal: Worker
) -> Response:
    """Each item has the single complete's exactly-once semantics and its own status."""
    limit = deps.settings(request).max_json_field_bytes

    def check(i: int, item: CompleteItem) -> tuple[int, Completion]:
        deps.check_json_field(item.result, f"completions.{i}.result", limit)
        deps.check_json_field(item.details, f"completions.{i}.details", limit)
        job_id = deps.parse_job_id(item.job_id)
        set_details = "details" in item.model_fields_set
        completion = Completion(
            job_id, item.lease_token, item.result, item.idempotency_key, item.details, set_details
        )
        return job_id, completion

    async def call(completions: list[Completion]) -> list[Job | Completed | DomainError]:
        service = deps.service(request)
        return await service.complete_many(completions, return_jobs=body.include_jobs)

    def answer(outcome: object) -> dict[str, Any]:  # a Job, or Completed (no job asked for)
        return {"job": job_dict(outcome)} if isinstance(outcome, Job) else {}

    return await _each_item(body.completions, check, call, answer)


@router.post(
    "/v1/workers/heartbeat",
    response_model=HeartbeatBatchOut,
    responses=deps.COMMON_ERRORS,
    summary="Heartbeat many leases (extension)",
)
async def heartbeat_batch(
    body: HeartbeatBatchRequest, request: Request, _principal: Worker
) -> Response:
    """Each item as the single heartbeat would answer it; all in one database statement."""
    limit = deps.settings(request).max_json_field_bytes

    def check(i: int, item: HeartbeatItem) -> tuple[int, Heartbeat]:
        deps.check_json_field(item.details, f"heartbeats.{i}.details", limit)
        job_id = deps.parse_job_id(item.job_id)
        set_details = "details" in item.model_fields_set
        return job_id, Heartbeat(job_id, item.lease_token, item.details, set_details)

    def answer(outcome: HeartbeatResult) -> dict[str, Any]:
        return {
            "lease_expires_at": iso(outcome.lease_expires_at),
            "cancel_requested": outcome.cancel_requested,
        }

    return await _each_item(body.heartbeats, check, deps.service(request).heartbeat_many, answer)


@router.post(
    "/v1/workers/release",
    response_model=ReleaseBatchOut,
    responses=deps.COMMON_ERRORS,
    summary="Hand back leases that were never started (extension)",
)
async def release_batch(
    body: ReleaseBatchRequest, request: Request, _principal: Worker
) -> Response:
    """For a worker that leased ahead (prefetch) and stops before starting some jobs: each
    released job is pending again at once and its attempt is given back, as if it had never
    been leased. Only the current lease token releases (404/409 per item otherwise); a job
    whose handler ran must be completed or failed instead."""

    def check(_i: int, item: ReleaseItem) -> tuple[int, tuple[int, str]]:
        job_id = deps.parse_job_id(item.job_id)
        return job_id, (job_id, item.lease_token)

    def answer(_released: None) -> dict[str, Any]:
        return {}

    return await _each_item(body.releases, check, deps.service(request).release_many, answer)


@router.get(
    "/v1/workers",
    response_model=WorkerListOut,
    responses=deps.COMMON_ERRORS,
    summary="The workers seen polling (extension)",
)
async def list_workers(
    request: Request,
    _principal: Reader,
    queue: str | None = Query(default=None, min_length=1, max_length=255),
    type_: str | None = Query(default=None, alias="type", min_length=1, max_length=255),
    seen_within_seconds: float = Query(default=300.0, gt=0, le=7 * 24 * 3600.0),
) -> Response:
    """Workers that asked for jobs recently, with their queues and types; with ``queue`` and
    ``type``, only those whose lease requests would take such a job (none: nothing runs it)."""
    service = deps.service(request)
    workers = await service.workers(seen_within_seconds=seen_within_seconds)
    if queue is not None:
        workers = [w for w in workers if queue in w.queues]
    if type_ is not None:
        workers = [w for w in workers if w.types is None or type_ in w.types]
    now = await service.db_now()
    return OrjsonResponse({"workers": [worker_dict(w, now) for w in workers]})


@router.post("/v1/jobs/{job_id}/snooze", response_model=JobOut, responses=LEASE_ERRORS)
async def snooze(
    job_id: str, body: SnoozeRequest, request: Request, _principal: Worker
) -> Response:
    """v1.1: back to pending with run_at = now + delay_seconds (database clock); the attempt
    ends with outcome snoozed and is not counted (attempts goes down by one), so snoozing never
    leads to the DLQ. Fenced like complete: 409 lease_lost unless the token holds the lease."""
    deps.check_json_field(body.details, "details", deps.settings(request).max_json_field_bytes)
    job = await deps.service(request).snooze(
        Snooze(
            job_id=deps.parse_job_id(job_id),
            lease_token=body.lease_token,
            delay_seconds=body.delay_seconds,
            details=body.details,
            set_details="details" in body.model_fields_set,
        )
    )
    return OrjsonResponse(job_dict(job))

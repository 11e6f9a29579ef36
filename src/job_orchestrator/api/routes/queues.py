"""Queues (v1.1): the overview of every queue, pause, resume and stored settings."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from job_orchestrator.api import deps
from job_orchestrator.api.auth import Admin, Reader
from job_orchestrator.api.errors import InvalidInput
from job_orchestrator.api.responses import OrjsonResponse
from job_orchestrator.api.schemas import QueueListOut, QueueOut, QueueSettingsRequest
from job_orchestrator.domain.models import QueueChange, QueueInfo

router = APIRouter(tags=["queues"])

LIMITS_NOTE = (
    " rate_limit_per_second and concurrency_limit are stored and returned here; they are "
    "enforced by a later release (flow control)."
)


def queue_dict(info: QueueInfo) -> dict[str, Any]:
    s = info.settings
    return {
        "name": s.name,
        "paused": s.paused,
        "counts": info.counts,
        "oldest_ready_seconds": (
            None if info.oldest_ready_seconds is None else round(info.oldest_ready_seconds, 3)
        ),
        "rate_limit_per_second": s.rate_limit_per_second,
        "concurrency_limit": s.concurrency_limit,
    }


def queue_name(raw: str) -> str:
    """A queue name as enqueue accepts it (1-255 characters, no NUL), else 422 naming it."""
    if not 1 <= len(raw) <= 255:
        raise InvalidInput("name: a queue name has 1 to 255 characters")
    if "\x00" in raw:
        raise InvalidInput("name: must not contain NUL characters")
    try:
        raw.encode()
    except UnicodeEncodeError:
        raise InvalidInput("name: must be valid Unicode text") from None
    return raw


@router.get("/v1/queues", response_model=QueueListOut, responses=deps.COMMON_ERRORS)
async def list_queues(request: Request, _principal: Reader) -> Response:
    """Every queue that holds jobs or has settings, by name."""
    queues = await deps.queues(request).list()
    return OrjsonResponse({"queues": [queue_dict(q) for q in queues]})


@router.put(
    "/v1/queues/{name}",
    response_model=QueueOut,
    responses=deps.COMMON_ERRORS,
    description="Store any of the queue's settings (the others keep their value)." + LIMITS_NOTE,
)
async def put_queue(
    name: str, body: QueueSettingsRequest, request: Request, _principal: Admin
) -> Response:
    given = body.model_fields_set
    change = QueueChange(
        paused=body.paused if "paused" in given else None,
        rate_limit_per_second=body.rate_limit_per_second,
        rate_limit_given="rate_limit_per_second" in given,
        concurrency_limit=body.concurrency_limit,
        concurrency_limit_given="concurrency_limit" in given,
    )
    info = await deps.queues(request).change(queue_name(name), change)
    return OrjsonResponse(queue_dict(info))


@router.post(
    "/v1/queues/{name}/pause",
    response_model=QueueOut,
    responses=deps.COMMON_ERRORS,
    description="A paused queue leases nothing; enqueues are accepted and leased jobs run on.",
)
async def pause_queue(name: str, request: Request, _principal: Admin) -> Response:
    return OrjsonResponse(queue_dict(await deps.queues(request).pause(queue_name(name))))


@router.post(
    "/v1/queues/{name}/resume",
    response_model=QueueOut,
    responses=deps.COMMON_ERRORS,
    description="Lease from the queue again; waiting long polls of the queue are woken.",
)
async def resume_queue(name: str, request: Request, _principal: Admin) -> Response:
    return OrjsonResponse(queue_dict(await deps.queues(request).resume(queue_name(name))))

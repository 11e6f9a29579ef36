"""Schedules (API v1.1): put, read, list, delete, pause, resume, trigger.

Reading needs the reader scope; every write needs admin: a schedule enqueues jobs on its own,
for as long as it exists, under no producer key (its jobs have no owner, so a producer-only
key could not even see them), the way retry and redrive act for everyone.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from job_orchestrator.api import deps
from job_orchestrator.api.auth import Admin, Reader
from job_orchestrator.api.responses import OrjsonResponse
from job_orchestrator.api.schemas import (
    ErrorOut,
    JobOut,
    ScheduleListOut,
    ScheduleOut,
    SchedulePutRequest,
)
from job_orchestrator.api.serialize import iso, job_dict
from job_orchestrator.domain.schedules import (
    Overlap,
    Schedule,
    ScheduleDefinition,
    ScheduleSpec,
)

router = APIRouter(tags=["schedules"])

# Schedule names follow the rules of queue names.
ScheduleName = Annotated[str, Path(min_length=1, max_length=255, pattern=r"^[^\x00]+$")]

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "Unknown schedule"}
}


def schedule_dict(schedule: Schedule) -> dict[str, Any]:
    return {
        "name": schedule.name,
        "cron": schedule.spec.cron,
        "every_seconds": schedule.spec.every_seconds,
        "timezone": schedule.spec.timezone,
        "job": schedule.job,
        "overlap": schedule.overlap.value,
        "catchup_window_seconds": schedule.catchup_window_seconds,
        "paused": schedule.paused,
        "next_fire_at": iso(schedule.next_fire_at),
        "last_fire_at": iso(schedule.last_fire_at),
        "last_job_id": None if schedule.last_job_id is None else str(schedule.last_job_id),
        "created_at": iso(schedule.created_at),
        "updated_at": iso(schedule.updated_at),
    }


def to_definition(name: str, body: SchedulePutRequest, json_limit: int) -> ScheduleDefinition:
    deps.check_json_field(body.job.payload, "job.payload", json_limit)
    return ScheduleDefinition(
        name=name,
        spec=ScheduleSpec(cron=body.cron, every_seconds=body.every_seconds, timezone=body.timezone),
        job=body.job.model_dump(mode="json"),
        overlap=Overlap(body.overlap),
        catchup_window_seconds=body.catchup_window_seconds,
        paused=body.paused,
    )


@router.put(
    "/v1/schedules/{name}",
    status_code=201,
    response_model=ScheduleOut,
    responses={
        200: {"model": ScheduleOut, "description": "Replaced"},
        413: {"model": ErrorOut, "description": "payload_too_large"},
        **deps.COMMON_ERRORS,
    },
)
async def put_schedule(
    name: ScheduleName, body: SchedulePutRequest, request: Request, _principal: Admin
) -> Response:
    """Create (201) or replace (200) the whole schedule; omitted fields take their defaults."""
    definition = to_definition(name, body, deps.settings(request).max_json_field_bytes)
    schedule, created = await deps.schedules(request).put(definition)
    return OrjsonResponse(schedule_dict(schedule), status_code=201 if created else 200)


@router.get("/v1/schedules", response_model=ScheduleListOut, responses=deps.COMMON_ERRORS)
async def list_schedules(
    request: Request,
    _principal: Reader,
    limit: int = Query(default=50, ge=1, le=500),
    cursor: str | None = Query(
        default=None, max_length=255, pattern=r"^[^\x00]*$", description="next_cursor of a page"
    ),
) -> Response:
    """By name; pass ``next_cursor`` back as ``cursor`` for the next page."""
    schedules = await deps.schedules(request).list(limit=limit, after=cursor or None)
    next_cursor = schedules[-1].name if len(schedules) == limit else None
    return OrjsonResponse(
        {"schedules": [schedule_dict(s) for s in schedules], "next_cursor": next_cursor}
    )


@router.get(
    "/v1/schedules/{name}",
    response_model=ScheduleOut,
    responses={**NOT_FOUND, **deps.COMMON_ERRORS},
)
async def get_schedule(name: ScheduleName, request: Request, _principal: Reader) -> Response:
    return OrjsonResponse(schedule_dict(await deps.schedules(request).get(name)))


@router.delete(
    "/v1/schedules/{name}",
    status_code=204,
    responses={**NOT_FOUND, **deps.COMMON_ERRORS},
)
async def delete_schedule(name: ScheduleName, request: Request, _principal: Admin) -> Response:
    """The jobs it already enqueued are untouched."""
    await deps.schedules(request).delete(name)
    return Response(status_code=204)


@router.post(
    "/v1/schedules/{name}/pause",
    response_model=ScheduleOut,
    responses={**NOT_FOUND, **deps.COMMON_ERRORS},
)
async def pause_schedule(name: ScheduleName, request: Request, _principal: Admin) -> Response:
    return OrjsonResponse(schedule_dict(await deps.schedules(request).set_paused(name, True)))


@router.post(
    "/v1/schedules/{name}/resume",
    response_model=ScheduleOut,
    responses={**NOT_FOUND, **deps.COMMON_ERRORS},
)
async def resume_schedule(name: ScheduleName, request: Request, _principal: Admin) -> Response:
    """From the next fire time on: the paused time is not caught up."""
    return OrjsonResponse(schedule_dict(await deps.schedules(request).set_paused(name, False)))


@router.post(
    "/v1/schedules/{name}/trigger",
    status_code=201,
    response_model=JobOut,
    responses={**NOT_FOUND, **deps.COMMON_ERRORS},
)
async def trigger_schedule(name: ScheduleName, request: Request, _principal: Admin) -> Response:
    """A job now, outside the fire times: no idempotency key, scheduled_for null; it does not
    change last_job_id and does not count for overlap."""
    job = await deps.schedules(request).trigger(name)
    return OrjsonResponse(job_dict(job), status_code=201)

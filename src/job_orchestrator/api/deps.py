"""Helpers shared by the routes: the services, id parsing, JSON field bounds."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from job_orchestrator import jsoncodec
from job_orchestrator.api.errors import InvalidInput, PayloadTooLarge
from job_orchestrator.domain.errors import JobNotFound
from job_orchestrator.services.dashboard import DashboardService
from job_orchestrator.services.health import HealthService
from job_orchestrator.services.jobs import JobService
from job_orchestrator.services.queues import QueueService
from job_orchestrator.services.schedules import ScheduleService
from job_orchestrator.settings import Settings

MAX_ID = 2**63 - 1

# Every route may answer these; listed so the OpenAPI document tells the truth.
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "The body is not JSON"},
    401: {"description": "Auth is on and no valid API key was sent"},
    403: {"description": "The key's scope does not allow this call, or it came from another site"},
    422: {"description": "Invalid input (the message names the field)"},
    503: {"description": "The database cannot be reached; retry"},
}


def service(request: Request) -> JobService:
    svc: JobService = request.app.state.service
    return svc


def dashboard(request: Request) -> DashboardService:
    value: DashboardService = request.app.state.dashboard
    return value


def health(request: Request) -> HealthService:
    value: HealthService = request.app.state.health
    return value


def schedules(request: Request) -> ScheduleService:
    value: ScheduleService = request.app.state.schedules
    return value


def settings(request: Request) -> Settings:
    value: Settings = request.app.state.settings
    return value


def parse_job_id(raw: str) -> int:
    """Ids are strings on the wire; anything that is not one of ours is simply not found."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or int(raw) > MAX_ID:
        raise JobNotFound(f"job {raw[:64]!r} does not exist")
    return int(raw)


def parse_cursor(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise InvalidInput("cursor: not a cursor returned by this API")
    return min(int(raw), MAX_ID)  # past the largest id: the same as starting at the top


def check_json_field(value: Any, field: str, limit: int) -> None:
    """A JSON value both databases can store, within the size limit; else 413/422 naming it."""
    if value is None:
        return
    try:
        encoded = jsoncodec.dumps(value)
    except (ValueError, TypeError, RecursionError) as error:
        raise InvalidInput(f"{field}: cannot be stored as JSON ({error})") from error
    if len(encoded) > limit:
        raise PayloadTooLarge(f"{field} is {len(encoded)} bytes, over the limit of {limit} bytes")


def queues(request: Request) -> QueueService:
    value: QueueService = request.app.state.queues
    return value

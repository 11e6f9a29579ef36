"""Operations: liveness, readiness, metrics."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from job_orchestrator.api import deps
from job_orchestrator.api.auth import Reader, Scope, require
from job_orchestrator.api.responses import OrjsonResponse, error_response
from job_orchestrator.api.schemas import HealthOut, MetricsOut, ReadyOut
from job_orchestrator.domain.errors import StoreUnavailable

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=HealthOut)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=ReadyOut,
    responses={503: {"description": "The database does not answer"}},
)
async def readyz(request: Request) -> Response:
    try:
        await deps.health(request).check_database()
    except StoreUnavailable as error:
        return error_response(503, error.code, error.message, headers={"Retry-After": "1"})
    return OrjsonResponse({"status": "ready", "database": deps.settings(request).dialect})


@router.get(
    "/v1/metrics",
    response_model=None,  # documented, not filtered: new counters pass through as they are
    responses={200: {"model": MetricsOut}, **deps.COMMON_ERRORS},
)
async def metrics_json(request: Request, _principal: Reader) -> dict[str, Any]:
    """Job counts by queue and state (from the database) and this process's counters."""
    svc = deps.service(request)
    jobs: defaultdict[str, dict[str, int]] = defaultdict(dict)
    for queue, state, n in await svc.job_counts():
        jobs[queue][state] = n
    totals: dict[str, int] = svc.metrics.totals()
    # v1.1: every process reports the same count (kept in the database).
    totals["deleted"] = await svc.deleted_total()
    return {"jobs": dict(jobs), "totals": totals, "totals_scope": "process"}


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
)
async def metrics_prometheus(request: Request) -> Response:
    if not deps.settings(request).metrics_open:
        await require(Scope.READER)(request, None)
    svc = deps.service(request)
    await svc.job_counts()
    await svc.deleted_total()
    return Response(svc.metrics.prometheus_text(), media_type=CONTENT_TYPE_LATEST)

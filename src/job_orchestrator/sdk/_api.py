"""The API calls as data (method, path, query, body, how to read the answer).

Both clients and the worker execute these, so the sync and async clients cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from job_orchestrator.sdk._http import NO_BODY
from job_orchestrator.sdk.models import (
    Attempt,
    Job,
    JobPage,
    JobSpec,
    Lease,
    Queue,
    Schedule,
    SchedulePage,
    WorkerStatus,
)

T = TypeVar("T")

MAX_BATCH = 1000  # the contract's limit for POST /v1/jobs/batch and the batch worker calls
MAX_WAIT_SECONDS = 30.0  # the contract's limit for long polls
LONG_POLL_MARGIN = 10.0  # the HTTP timeout of a long poll: its wait plus this


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[Any], T]
    params: dict[str, Any] | None = None
    body: Any = NO_BODY
    timeout: float | None = None


def _job_path(job_id: str, suffix: str = "") -> str:
    return f"/v1/jobs/{quote(str(job_id), safe='')}{suffix}"


def _jobs(data: Any) -> list[Job]:
    return [Job.from_dict(j) for j in data["jobs"]]


# ---- producers ---------------------------------------------------------------------------------
def enqueue(spec: JobSpec) -> Call[Job]:
    return Call("POST", "/v1/jobs", Job.from_dict, body=spec.to_dict())


def enqueue_batch(specs: Sequence[JobSpec]) -> Call[list[Job]]:
    return Call("POST", "/v1/jobs/batch", _jobs, body={"jobs": [s.to_dict() for s in specs]})


def chunks(specs: Iterable[JobSpec], size: int = MAX_BATCH) -> Iterable[list[JobSpec]]:
    chunk: list[JobSpec] = []
    for spec in specs:
        chunk.append(spec)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def get(job_id: str, *, wait_seconds: float = 0.0) -> Call[Job]:
    wait = min(max(wait_seconds, 0.0), MAX_WAIT_SECONDS)
    return Call(
        "GET",
        _job_path(job_id),
        Job.from_dict,
        params={"wait_seconds": round(wait, 3)} if wait else None,
        timeout=wait + LONG_POLL_MARGIN if wait else None,
    )


def list_jobs(
    *,
    queue: str | None = None,
    state: str | None = None,
    type: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Call[JobPage]:
    params = {"queue": queue, "state": state, "type": type, "limit": limit, "cursor": cursor}
    return Call("GET", "/v1/jobs", JobPage.from_dict, params=params)


def attempts(job_id: str) -> Call[list[Attempt]]:
    def parse(data: Any) -> list[Attempt]:
        return [Attempt.from_dict(a) for a in data["attempts"]]

    return Call("GET", _job_path(job_id, "/attempts"), parse)


def cancel(job_id: str) -> Call[Job]:
    return Call("POST", _job_path(job_id, "/cancel"), Job.from_dict)


def retry(job_id: str) -> Call[Job]:
    return Call("POST", _job_path(job_id, "/retry"), Job.from_dict)


def dlq(
    *,
    queue: str | None = None,
    type: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Call[JobPage]:
    params = {"queue": queue, "type": type, "limit": limit, "cursor": cursor}
    return Call("GET", "/v1/dlq", JobPage.from_dict, params=params)


def redrive(
    *, queue: str | None = None, type: str | None = None, limit: int | None = None
) -> Call[int]:
    body = {k: v for k, v in (("queue", queue), ("type", type), ("limit", limit)) if v is not None}
    return Call("POST", "/v1/dlq/redrive", lambda data: int(data["redriven"]), body=body)


# ---- workers -----------------------------------------------------------------------------------
def lease(
    *,
    worker_id: str,
    queues: Sequence[str],
    types: Sequence[str] | None,
    max_jobs: int,
    wait_seconds: float,
) -> Call[list[Lease]]:
    body: dict[str, Any] = {
        "worker_id": worker_id,
        "queues": list(queues),
        "max_jobs": max_jobs,
        "wait_seconds": wait_seconds,
    }
    if types:
        body["types"] = list(types)

    def parse(data: Any) -> list[Lease]:
        return [Lease.from_dict(item) for item in data["leases"]]

    return Call(
        "POST", "/v1/workers/lease", parse, body=body, timeout=wait_seconds + LONG_POLL_MARGIN
    )


def heartbeat_batch(items: Sequence[dict[str, Any]]) -> Call[list[dict[str, Any]]]:
    """Items are ``{"job_id", "lease_token", "details"?}``; one result per item, in order."""
    return Call(
        "POST",
        "/v1/workers/heartbeat",
        lambda data: list(data["results"]),
        body={"heartbeats": list(items)},
    )


def heartbeat(job_id: str, body: dict[str, Any]) -> Call[dict[str, Any]]:
    """``body`` is ``{"lease_token", "details"?}`` (no details: keep the stored ones)."""
    return Call("POST", _job_path(job_id, "/heartbeat"), dict, body=body)


def complete_batch(items: Sequence[dict[str, Any]]) -> Call[list[dict[str, Any]]]:
    """Items are ``{"job_id", "lease_token", "result", "idempotency_key"?, "details"?}``
    (``details``: the handler's last progress, stored as the job's heartbeat details)."""
    return Call(
        "POST",
        "/v1/workers/complete",
        lambda data: list(data["results"]),
        body={"completions": list(items)},
    )


def release_batch(items: Sequence[dict[str, Any]]) -> Call[list[dict[str, Any]]]:
    """Items are ``{"job_id", "lease_token"}``: leases handed back unstarted."""
    return Call(
        "POST",
        "/v1/workers/release",
        lambda data: list(data["results"]),
        body={"releases": list(items)},
    )


def complete(
    job_id: str,
    lease_token: str,
    result: Any,
    idempotency_key: str,
    details: Any = NO_BODY,
) -> Call[Job]:
    """``details``, when given, is stored as the job's heartbeat details (omitted: kept)."""
    body = {"lease_token": lease_token, "result": result, "idempotency_key": idempotency_key}
    if details is not NO_BODY:
        body["details"] = details
    return Call("POST", _job_path(job_id, "/complete"), Job.from_dict, body=body)


def fail(job_id: str, lease_token: str, error: dict[str, Any]) -> Call[Job]:
    body = {"lease_token": lease_token, "error": error}
    return Call("POST", _job_path(job_id, "/fail"), Job.from_dict, body=body)


def workers(
    *, queue: str | None = None, type: str | None = None, seen_within_seconds: float | None = None
) -> Call[list[WorkerStatus]]:
    """The workers seen polling; with ``queue`` and ``type``, those that would take such a job."""

    def parse(data: Any) -> list[WorkerStatus]:
        return [WorkerStatus.from_dict(w) for w in data["workers"]]

    params = {"queue": queue, "type": type, "seen_within_seconds": seen_within_seconds}
    return Call("GET", "/v1/workers", parse, params=params)


# ---- schedules ---------------------------------------------------------------------------------
def _schedule_path(name: str, suffix: str = "") -> str:
    return f"/v1/schedules/{quote(name, safe='')}{suffix}"


def put_schedule(name: str, body: dict[str, Any]) -> Call[Schedule]:
    return Call("PUT", _schedule_path(name), Schedule.from_dict, body=body)


def get_schedule(name: str) -> Call[Schedule]:
    return Call("GET", _schedule_path(name), Schedule.from_dict)


def list_schedules(*, limit: int | None = None, cursor: str | None = None) -> Call[SchedulePage]:
    return Call(
        "GET", "/v1/schedules", SchedulePage.from_dict, params={"limit": limit, "cursor": cursor}
    )


def delete_schedule(name: str) -> Call[None]:
    return Call("DELETE", _schedule_path(name), lambda data: None)


def pause_schedule(name: str) -> Call[Schedule]:
    return Call("POST", _schedule_path(name, "/pause"), Schedule.from_dict)


def resume_schedule(name: str) -> Call[Schedule]:
    return Call("POST", _schedule_path(name, "/resume"), Schedule.from_dict)


def trigger_schedule(name: str) -> Call[Job]:
    return Call("POST", _schedule_path(name, "/trigger"), Job.from_dict)


# ---- v1.1: snooze, queues ----------------------------------------------------------------------
def snooze(job_id: str, body: dict[str, Any]) -> Call[Job]:
    """``body`` is ``{"lease_token", "delay_seconds", "details"?}``."""
    return Call("POST", _job_path(job_id, "/snooze"), Job.from_dict, body=body)


def _queue_path(name: str, suffix: str = "") -> str:
    return f"/v1/queues/{quote(name, safe='')}{suffix}"


def queues() -> Call[list[Queue]]:
    return Call("GET", "/v1/queues", lambda data: [Queue.from_dict(q) for q in data["queues"]])


def put_queue(name: str, settings: dict[str, Any]) -> Call[Queue]:
    return Call("PUT", _queue_path(name), Queue.from_dict, body=settings)


def pause_queue(name: str) -> Call[Queue]:
    return Call("POST", _queue_path(name, "/pause"), Queue.from_dict)


def resume_queue(name: str) -> Call[Queue]:
    return Call("POST", _queue_path(name, "/resume"), Queue.from_dict)

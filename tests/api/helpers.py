"""Small helpers for driving the API in tests, and the error-envelope check."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import httpx

SNAKE_CASE = re.compile(r"^[a-z][a-z0-9_]*$")


def assert_error(
    response: httpx.Response,
    status: int | tuple[int, ...],
    code: str | tuple[str, ...] | None = None,
    *,
    field: str | None = None,
) -> dict[str, Any]:
    """The contract's error envelope, with the expected status (and code, and named field)."""
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, (response.status_code, response.text[:2000])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict), body
    assert set(error) <= {"code", "message", "details"}, error
    assert isinstance(error["code"], str) and SNAKE_CASE.match(error["code"]), error
    assert isinstance(error["message"], str) and error["message"].strip(), error
    assert "Traceback" not in response.text
    if code is not None:
        codes = (code,) if isinstance(code, str) else code
        assert error["code"] in codes, error
    if field is not None:
        assert field in error["message"], (field, error["message"])
    return error


def ts(value: str) -> datetime:
    """An RFC 3339 UTC time from the wire."""
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def enqueue(api: httpx.AsyncClient, type_: str = "t", **fields: Any) -> dict[str, Any]:
    response = await api.post("/v1/jobs", json={"type": type_, **fields})
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    return job


async def get_job(api: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    response = await api.get(f"/v1/jobs/{job_id}")
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


async def lease(
    api: httpx.AsyncClient, worker_id: str = "w1", **fields: Any
) -> list[dict[str, Any]]:
    response = await api.post("/v1/workers/lease", json={"worker_id": worker_id, **fields})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"leases"}, body
    leases: list[dict[str, Any]] = body["leases"]
    return leases


async def lease_one(api: httpx.AsyncClient, worker_id: str = "w1", **fields: Any) -> dict[str, Any]:
    leases = await lease(api, worker_id, **fields)
    assert len(leases) == 1, leases
    return leases[0]


async def complete(
    api: httpx.AsyncClient, job_id: str, token: str, result: Any = None, **fields: Any
) -> httpx.Response:
    return await api.post(
        f"/v1/jobs/{job_id}/complete", json={"lease_token": token, "result": result, **fields}
    )


async def fail(
    api: httpx.AsyncClient,
    job_id: str,
    token: str,
    message: str = "boom",
    **error: Any,
) -> httpx.Response:
    return await api.post(
        f"/v1/jobs/{job_id}/fail",
        json={"lease_token": token, "error": {"message": message, **error}},
    )


async def heartbeat(
    api: httpx.AsyncClient, job_id: str, token: str, **fields: Any
) -> httpx.Response:
    return await api.post(f"/v1/jobs/{job_id}/heartbeat", json={"lease_token": token, **fields})

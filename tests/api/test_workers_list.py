"""GET /v1/workers (extension): who polls, for which queues and types, and who stopped."""

from __future__ import annotations

from datetime import timedelta

import httpx

from job_orchestrator.services.jobs import JobService
from tests.api.helpers import assert_error


async def test_workers_are_listed_with_their_types_and_whether_they_poll(
    api: httpx.AsyncClient, service: JobService
) -> None:
    now = await service.db_now()
    store = service.store
    await store.record_worker_seen("fresh", ["q"], types=["email"], now=now)
    await store.record_worker_seen("gone", ["q"], now=now - timedelta(seconds=120))
    body = (await api.get("/v1/workers")).json()
    by_id = {w["worker_id"]: w for w in body["workers"]}
    assert by_id["fresh"]["types"] == ["email"] and by_id["fresh"]["polling"] is True
    assert by_id["gone"]["types"] is None and by_id["gone"]["polling"] is False
    serving = (await api.get("/v1/workers", params={"queue": "q", "type": "email"})).json()
    assert {w["worker_id"] for w in serving["workers"]} == {"fresh", "gone"}
    sms = await api.get("/v1/workers", params={"queue": "q", "type": "sms"})
    assert [w["worker_id"] for w in sms.json()["workers"]] == ["gone"]  # it takes every type
    recent = await api.get("/v1/workers", params={"seen_within_seconds": 60})
    assert [w["worker_id"] for w in recent.json()["workers"]] == ["fresh"]
    assert_error(await api.get("/v1/workers", params={"seen_within_seconds": 0}), 422)
    assert "/v1/workers" in (await api.get("/openapi.json")).json()["paths"]


async def test_the_lease_path_records_the_types_asked_for(
    api: httpx.AsyncClient, service: JobService
) -> None:
    response = await api.post(
        "/v1/workers/lease", json={"worker_id": "w-types", "queues": ["q"], "types": ["a"]}
    )
    assert response.status_code == 200, response.text
    await service.close()  # the background bookkeeping write has landed
    [worker] = [w for w in (await api.get("/v1/workers")).json()["workers"]]
    assert (worker["worker_id"], worker["types"], worker["queues"]) == ("w-types", ["a"], ["q"])

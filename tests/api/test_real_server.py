"""The real uvicorn server in a subprocess: the same calls over real HTTP, and a dead database."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from tests.api.helpers import assert_error
from tests.support.server import run_server

pytestmark = pytest.mark.slow


async def _worker_loop(url: str, worker_id: str, seen: list[str]) -> None:
    """Lease one job at a time until none is left, completing each."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        while True:
            response = await client.post(
                "/v1/workers/lease", json={"worker_id": worker_id, "max_jobs": 3}
            )
            assert response.status_code == 200, response.text
            leases = response.json()["leases"]
            if not leases:
                return
            for item in leases:
                seen.append(item["job_id"])
                done = await client.post(
                    f"/v1/jobs/{item['job_id']}/complete",
                    json={"lease_token": item["lease_token"], "result": {"by": worker_id}},
                )
                assert done.status_code == 200, done.text


async def _round_trip(url: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        assert (await client.get("/healthz")).status_code == 200
        created = await client.post("/v1/jobs", json={"type": "real", "payload": {"n": 1}})
        assert created.status_code == 201, created.text
        job = created.json()

        leased = await client.post("/v1/workers/lease", json={"worker_id": "real-worker"})
        (item,) = leased.json()["leases"]
        assert item["job_id"] == job["id"] and item["payload"] == {"n": 1}
        beat = await client.post(
            f"/v1/jobs/{job['id']}/heartbeat",
            json={"lease_token": item["lease_token"], "details": {"step": 1}},
        )
        assert beat.status_code == 200 and beat.json()["cancel_requested"] is False

        waiter = asyncio.create_task(
            client.get(f"/v1/jobs/{job['id']}", params={"wait_seconds": 20})
        )
        await asyncio.sleep(0.2)
        done = await client.post(
            f"/v1/jobs/{job['id']}/complete",
            json={"lease_token": item["lease_token"], "result": {"ok": True}},
        )
        assert done.status_code == 200 and done.json()["state"] == "succeeded"
        completed_at = time.monotonic()
        waited = await waiter
        assert waited.json()["state"] == "succeeded"
        assert waited.json()["result"] == {"ok": True}
        assert time.monotonic() - completed_at < 2

        replay = await client.post(
            f"/v1/jobs/{job['id']}/complete",
            json={"lease_token": item["lease_token"], "result": {"ok": True}},
        )
        assert replay.status_code == 200
        assert_error(
            await client.post(
                f"/v1/jobs/{job['id']}/complete",
                json={"lease_token": item["lease_token"], "idempotency_key": "x"},
            ),
            409,
            "already_completed",
        )
        assert_error(await client.get("/v1/jobs/abc"), 404, "not_found")
        assert_error(await client.post("/v1/jobs", content=b"{"), (400, 422), "invalid_request")

        # A long poll is woken by an enqueue on another connection.
        async with httpx.AsyncClient(base_url=url, timeout=30) as other:
            poll = asyncio.create_task(
                client.post(
                    "/v1/workers/lease",
                    json={"worker_id": "poller", "queues": ["later"], "wait_seconds": 20},
                )
            )
            await asyncio.sleep(0.3)
            await other.post("/v1/jobs", json={"type": "late", "queue": "later"})
            enqueued_at = time.monotonic()
            polled = await poll
            assert [x["type"] for x in polled.json()["leases"]] == ["late"]
            assert time.monotonic() - enqueued_at < 1.0

        metrics = await client.get("/metrics")
        assert metrics.status_code == 200 and "orchestrator_jobs" in metrics.text


async def test_round_trip_through_the_real_server(database_url: str) -> None:
    with run_server(database_url) as server:
        await _round_trip(server.url)
    assert server.stopped_gracefully, (server.returncode, server.killed)


async def test_two_server_processes_on_postgresql(postgres_url: str) -> None:
    with run_server(postgres_url, workers=2) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            body = {"jobs": [{"type": "many", "payload": {"i": i}} for i in range(60)]}
            created = await client.post("/v1/jobs/batch", json=body)
            assert created.status_code == 201, (created.text, server.log())
            ids = {j["id"] for j in created.json()["jobs"]}

        seen: list[str] = []
        await asyncio.gather(*(_worker_loop(server.url, f"w{i}", seen) for i in range(4)))
        assert sorted(seen) == sorted(ids)  # every job leased exactly once
        assert len(seen) == len(set(seen))

        # Long polls held by both processes are woken by enqueues made through either.
        clients = [httpx.AsyncClient(base_url=server.url, timeout=30) for _ in range(4)]
        try:
            polls = [
                asyncio.create_task(
                    c.post(
                        "/v1/workers/lease",
                        json={"worker_id": f"p{i}", "queues": ["wake"], "wait_seconds": 20},
                    )
                )
                for i, c in enumerate(clients)
            ]
            await asyncio.sleep(0.5)
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as producer:
                for _ in range(4):
                    response = await producer.post("/v1/jobs", json={"type": "w", "queue": "wake"})
                    assert response.status_code == 201
            enqueued_at = time.monotonic()
            answers = await asyncio.gather(*polls)
            elapsed = time.monotonic() - enqueued_at
        finally:
            for c in clients:
                await c.aclose()
        leased = [x["job_id"] for a in answers for x in a.json()["leases"]]
        assert len(leased) == len(set(leased)) == 4
        assert elapsed < 1.5, elapsed

        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            listed = await client.get("/v1/jobs", params={"state": "succeeded", "limit": 500})
            assert len(listed.json()["jobs"]) == 60
            results: dict[str, Any] = {j["id"]: j["result"] for j in listed.json()["jobs"]}
            assert all(r["by"].startswith("w") for r in results.values())
    assert server.stopped_gracefully, (server.returncode, server.killed)


UNREACHABLE = "postgresql://postgres@127.0.0.1:1/nowhere"


async def test_unreachable_database_is_503_never_500() -> None:
    with run_server(UNREACHABLE, wait_for_ready=False) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            assert (await client.get("/healthz")).status_code == 200
            ready = await client.get("/readyz")
            assert_error(ready, 503, "unavailable")
            assert ready.headers.get("retry-after") is not None
            calls = [
                client.post("/v1/jobs", json={"type": "t"}),
                client.post("/v1/jobs/batch", json={"jobs": [{"type": "t"}]}),
                client.get("/v1/jobs/1"),
                client.get("/v1/jobs"),
                client.post("/v1/workers/lease", json={"worker_id": "w"}),
                client.post("/v1/workers/lease", json={"worker_id": "w", "wait_seconds": 1}),
                client.post("/v1/jobs/1/complete", json={"lease_token": "t"}),
                client.post("/v1/jobs/1/heartbeat", json={"lease_token": "t"}),
                client.post("/v1/dlq/redrive", json={}),
                client.get("/v1/metrics"),
            ]
            for call in calls:
                response = await call
                assert_error(response, 503, "unavailable")
            # Bad input: 422, or 503 as the server cannot tell whether auth is on (API keys live
            # in the database) and authenticates before it validates. Never a 500.
            assert_error(await client.post("/v1/jobs", json={}), (422, 503))
        assert "Traceback" not in server.log()

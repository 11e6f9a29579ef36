"""Every call of the API v1 contract (shared/spec/api-v1.md) through the ASGI app, both backends."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest

from job_orchestrator.domain.models import LeaseRequest
from job_orchestrator.services.jobs import JobService
from job_orchestrator.services.reaper import Reaper
from tests.api.helpers import (
    assert_error,
    complete,
    enqueue,
    fail,
    get_job,
    heartbeat,
    lease,
    lease_one,
    ts,
)

JOB_FIELDS = {
    "id",
    "queue",
    "type",
    "payload",
    "state",
    "priority",
    "attempts",
    "max_attempts",
    "run_at",
    "created_at",
    "updated_at",
    "finished_at",
    "lease_expires_at",
    "timeout_seconds",
    "lease_seconds",
    "retry",
    "idempotency_key",
    "result",
    "last_error",
    "heartbeat_details",
    "cancel_requested",
}
LEASE_FIELDS = {
    "job_id",
    "lease_token",
    "attempt",
    "lease_expires_at",
    "deadline",
    "queue",
    "type",
    "payload",
    "heartbeat_details",
}
ATTEMPT_FIELDS = {"attempt", "worker_id", "leased_at", "finished_at", "outcome", "error"}


def _close(a: float, b: float, tolerance: float = 3.0) -> bool:
    return abs(a - b) <= tolerance


# ---- enqueue -------------------------------------------------------------------------------
async def test_enqueue_returns_201_and_the_job_with_defaults(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/jobs", json={"type": "send_email", "payload": {"to": "a@b"}})
    assert response.status_code == 201, response.text
    job = response.json()
    assert set(job) >= JOB_FIELDS
    assert isinstance(job["id"], str) and job["id"]
    assert job["type"] == "send_email"
    assert job["payload"] == {"to": "a@b"}
    assert job["queue"] == "default"
    assert job["state"] == "pending"
    assert job["priority"] == 0
    assert job["attempts"] == 0
    assert job["max_attempts"] == 5
    assert job["lease_seconds"] == 30
    assert job["timeout_seconds"] is None
    assert job["retry"] == {
        "initial_seconds": 1.0,
        "multiplier": 2.0,
        "max_seconds": 300.0,
        "jitter": True,
    }
    for empty in ("finished_at", "lease_expires_at", "idempotency_key", "result", "last_error"):
        assert job[empty] is None, empty
    assert job["heartbeat_details"] is None
    assert job["cancel_requested"] is False
    created = ts(job["created_at"])
    assert ts(job["run_at"]) >= created - timedelta(seconds=1)
    assert ts(job["updated_at"]) >= created
    assert await get_job(api, job["id"]) == job


async def test_enqueue_keeps_every_given_field(api: httpx.AsyncClient) -> None:
    body: dict[str, Any] = {
        "type": "resize",
        "payload": [1, "two", {"three": 3.5}, None, True],
        "queue": "images",
        "priority": 7,
        "max_attempts": 9,
        "retry": {"initial_seconds": 2.5, "multiplier": 3.0, "max_seconds": 60.0, "jitter": False},
        "lease_seconds": 12.5,
        "timeout_seconds": 600.0,
        "idempotency_key": "resize-1",
    }
    job = await enqueue(api, **body)
    for field, value in body.items():
        assert job[field] == value, field


async def test_delay_seconds_and_run_at_schedule_the_job(
    api: httpx.AsyncClient, service: JobService
) -> None:
    now = await service.db_now()
    delayed = await enqueue(api, delay_seconds=120)
    assert _close((ts(delayed["run_at"]) - now).total_seconds(), 120)
    at = (now + timedelta(hours=5)).replace(microsecond=0)
    scheduled = await enqueue(api, run_at=at.isoformat())
    assert ts(scheduled["run_at"]) == at


async def test_concurrent_single_enqueues_each_get_their_own_job(api: httpx.AsyncClient) -> None:
    """Concurrent keyless enqueues share INSERTs on the server (services/coalescer.py); each
    request must still get exactly its own job back, and keyed ones in between theirs."""

    async def enqueue(n: int) -> httpx.Response:
        body: dict[str, object] = {"type": "t", "payload": {"n": n}, "queue": "together"}
        if n % 10 == 0:
            body["idempotency_key"] = f"key-{n}"
        return await api.post("/v1/jobs", json=body)

    responses = await asyncio.gather(*(enqueue(n) for n in range(60)))
    assert [r.status_code for r in responses] == [201] * 60
    jobs = [r.json() for r in responses]
    assert [job["payload"] for job in jobs] == [{"n": n} for n in range(60)]
    assert len({job["id"] for job in jobs}) == 60
    for job in jobs:
        stored = (await api.get(f"/v1/jobs/{job['id']}")).json()
        assert stored == job


async def test_idempotent_enqueue_replays_and_conflicts(api: httpx.AsyncClient) -> None:
    body = {"type": "t", "payload": {"n": 1}, "idempotency_key": "k-1"}
    first = await api.post("/v1/jobs", json=body)
    assert first.status_code == 201
    again = await api.post("/v1/jobs", json=body)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.json() == first.json()

    different = await api.post("/v1/jobs", json={**body, "payload": {"n": 2}})
    assert_error(different, 409, "idempotency_conflict")
    other_priority = await api.post("/v1/jobs", json={**body, "priority": 3})
    assert_error(other_priority, 409, "idempotency_conflict")

    listed = (await api.get("/v1/jobs")).json()["jobs"]
    assert [j["id"] for j in listed] == [first.json()["id"]]


async def test_idempotency_key_still_replays_after_the_job_ran(api: httpx.AsyncClient) -> None:
    body = {"type": "t", "idempotency_key": "once"}
    first = (await api.post("/v1/jobs", json=body)).json()
    got = await lease_one(api)
    assert (await complete(api, got["job_id"], got["lease_token"], {"ok": 1})).status_code == 200
    again = await api.post("/v1/jobs", json=body)
    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    assert again.json()["state"] == "succeeded"


# ---- batch ---------------------------------------------------------------------------------
async def test_batch_enqueue_in_request_order(api: httpx.AsyncClient) -> None:
    jobs = [{"type": f"t{i}", "priority": (7 * i) % 10, "payload": {"i": i}} for i in range(30)]
    response = await api.post("/v1/jobs/batch", json={"jobs": jobs})
    assert response.status_code == 201, response.text
    created = response.json()["jobs"]
    assert [j["type"] for j in created] == [f"t{i}" for i in range(30)]
    assert [j["payload"] for j in created] == [{"i": i} for i in range(30)]
    assert len({j["id"] for j in created}) == 30
    for job in created:
        assert job == await get_job(api, job["id"])


async def test_batch_is_all_or_nothing_on_invalid_input(api: httpx.AsyncClient) -> None:
    jobs: list[dict[str, Any]] = [{"type": "ok"} for _ in range(5)]
    jobs[3] = {"type": "bad", "priority": 10}
    response = await api.post("/v1/jobs/batch", json={"jobs": jobs})
    assert_error(response, 422, "invalid_request", field="priority")
    assert (await api.get("/v1/jobs")).json()["jobs"] == []


async def test_batch_is_all_or_nothing_on_idempotency_conflict(api: httpx.AsyncClient) -> None:
    await enqueue(api, idempotency_key="taken", payload=1)
    jobs = [
        {"type": "a"},
        {"type": "b"},
        {"type": "t", "idempotency_key": "taken", "payload": 2},
        {"type": "c"},
    ]
    response = await api.post("/v1/jobs/batch", json={"jobs": jobs})
    assert_error(response, 409, "idempotency_conflict")
    assert len((await api.get("/v1/jobs")).json()["jobs"]) == 1


async def test_batch_replays_known_keys_and_dedupes_within_the_batch(
    api: httpx.AsyncClient,
) -> None:
    known = await enqueue(api, idempotency_key="known")
    jobs = [
        {"type": "t", "idempotency_key": "known"},
        {"type": "x", "idempotency_key": "new"},
        {"type": "x", "idempotency_key": "new"},
    ]
    response = await api.post("/v1/jobs/batch", json={"jobs": jobs})
    assert response.status_code == 201, response.text
    ids = [j["id"] for j in response.json()["jobs"]]
    assert ids[0] == known["id"]
    assert ids[1] == ids[2] != known["id"]
    assert len((await api.get("/v1/jobs")).json()["jobs"]) == 2


async def test_batch_limits(api: httpx.AsyncClient) -> None:
    assert_error(await api.post("/v1/jobs/batch", json={"jobs": []}), 422, field="jobs")
    too_many = {"jobs": [{"type": "t"}] * 1001}
    assert_error(await api.post("/v1/jobs/batch", json=too_many), 422, field="jobs")
    exactly = await api.post("/v1/jobs/batch", json={"jobs": [{"type": "t"}] * 1000})
    assert exactly.status_code == 201
    assert len(exactly.json()["jobs"]) == 1000


# ---- get -----------------------------------------------------------------------------------
async def test_get_unknown_job_is_404(api: httpx.AsyncClient) -> None:
    assert_error(await api.get("/v1/jobs/123456"), 404, "not_found")


async def test_get_waits_until_the_job_completes_elsewhere(api: httpx.AsyncClient) -> None:
    job = await enqueue(api)

    async def worker() -> float:
        await asyncio.sleep(0.3)
        got = await lease_one(api)
        response = await complete(api, got["job_id"], got["lease_token"], {"done": True})
        assert response.status_code == 200
        return time.monotonic()

    started = time.monotonic()
    waited, completed_at = await asyncio.gather(
        api.get(f"/v1/jobs/{job['id']}", params={"wait_seconds": 10}), worker()
    )
    answered_at = time.monotonic()
    assert waited.status_code == 200
    assert waited.json()["state"] == "succeeded"
    assert waited.json()["result"] == {"done": True}
    assert answered_at - started >= 0.3
    assert answered_at - completed_at < 1.0


async def test_get_wait_ends_with_the_job_as_it_is(api: httpx.AsyncClient) -> None:
    job = await enqueue(api)
    started = time.monotonic()
    response = await api.get(f"/v1/jobs/{job['id']}", params={"wait_seconds": 0.4})
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.json()["state"] == "pending"
    assert 0.35 <= elapsed < 3


async def test_get_wait_on_a_terminal_job_answers_at_once(api: httpx.AsyncClient) -> None:
    job = await enqueue(api)
    assert (await api.post(f"/v1/jobs/{job['id']}/cancel")).status_code == 200
    started = time.monotonic()
    response = await api.get(f"/v1/jobs/{job['id']}", params={"wait_seconds": 30})
    assert response.json()["state"] == "cancelled"
    assert time.monotonic() - started < 2


# ---- list ----------------------------------------------------------------------------------
async def test_list_filters(api: httpx.AsyncClient) -> None:
    a = await enqueue(api, "alpha", queue="q1")
    b = await enqueue(api, "beta", queue="q1")
    c = await enqueue(api, "alpha", queue="q2")
    d = await enqueue(api, "alpha", queue="q1")
    await api.post(f"/v1/jobs/{d['id']}/cancel")

    async def ids(**params: Any) -> list[str]:
        response = await api.get("/v1/jobs", params=params)
        assert response.status_code == 200, response.text
        assert set(response.json()) == {"jobs", "next_cursor"}
        return [j["id"] for j in response.json()["jobs"]]

    assert set(await ids()) == {a["id"], b["id"], c["id"], d["id"]}
    assert set(await ids(queue="q1")) == {a["id"], b["id"], d["id"]}
    assert set(await ids(type="alpha")) == {a["id"], c["id"], d["id"]}
    assert set(await ids(state="pending")) == {a["id"], b["id"], c["id"]}
    assert set(await ids(state="cancelled")) == {d["id"]}
    assert set(await ids(queue="q1", type="alpha", state="pending")) == {a["id"]}
    assert await ids(queue="nowhere") == []
    assert await ids(state="succeeded") == []


@pytest.mark.parametrize("limit", [1, 5, 7])
async def test_list_cursor_pagination_has_no_duplicates_or_gaps(
    api: httpx.AsyncClient, limit: int
) -> None:
    created = (
        await api.post("/v1/jobs/batch", json={"jobs": [{"type": "t"} for _ in range(23)]})
    ).json()["jobs"]
    await enqueue(api, "other")  # filtered out below
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": limit, "type": "t"}
        if cursor is not None:
            params["cursor"] = cursor
        body = (await api.get("/v1/jobs", params=params)).json()
        assert len(body["jobs"]) <= limit
        seen.extend(j["id"] for j in body["jobs"])
        cursor = body["next_cursor"]
        pages += 1
        assert pages < 100
        if cursor is None:
            break
        assert isinstance(cursor, str)
    assert len(seen) == len(set(seen)) == 23
    assert set(seen) == {j["id"] for j in created}
    # Newest first, consistently across pages.
    assert seen == sorted(seen, key=int, reverse=True)


async def test_list_pagination_is_stable_while_jobs_are_added(api: httpx.AsyncClient) -> None:
    for _ in range(6):
        await enqueue(api)
    first = (await api.get("/v1/jobs", params={"limit": 3})).json()
    for _ in range(3):
        await enqueue(api)  # newer jobs must not shift the next page
    second = (await api.get("/v1/jobs", params={"limit": 3, "cursor": first["next_cursor"]})).json()
    ids = [j["id"] for j in first["jobs"] + second["jobs"]]
    assert len(set(ids)) == 6


async def test_list_default_limit_is_50(api: httpx.AsyncClient) -> None:
    await api.post("/v1/jobs/batch", json={"jobs": [{"type": "t"}] * 60})
    body = (await api.get("/v1/jobs")).json()
    assert len(body["jobs"]) == 50
    assert body["next_cursor"] is not None
    body2 = (await api.get("/v1/jobs", params={"cursor": body["next_cursor"]})).json()
    assert len(body2["jobs"]) == 10
    assert body2["next_cursor"] is None


# ---- attempts ------------------------------------------------------------------------------
async def test_attempts_record_every_lease(api: httpx.AsyncClient) -> None:
    job = await enqueue(api)
    assert (await api.get(f"/v1/jobs/{job['id']}/attempts")).json() == {"attempts": []}

    first = await lease_one(api, "worker-a")
    running = (await api.get(f"/v1/jobs/{job['id']}/attempts")).json()["attempts"]
    assert len(running) == 1
    assert set(running[0]) == ATTEMPT_FIELDS
    assert running[0]["attempt"] == 1
    assert running[0]["worker_id"] == "worker-a"
    assert running[0]["outcome"] is None and running[0]["finished_at"] is None

    response = await fail(
        api, job["id"], first["lease_token"], "bad thing", type="ValueError", retry_after_seconds=0
    )
    assert response.status_code == 200
    second = await lease_one(api, "worker-b")
    assert second["attempt"] == 2
    assert (await complete(api, job["id"], second["lease_token"], 1)).status_code == 200

    attempts = (await api.get(f"/v1/jobs/{job['id']}/attempts")).json()["attempts"]
    assert [a["attempt"] for a in attempts] == [1, 2]
    assert [a["worker_id"] for a in attempts] == ["worker-a", "worker-b"]
    assert [a["outcome"] for a in attempts] == ["failed", "succeeded"]
    assert attempts[0]["error"]["message"] == "bad thing"
    assert attempts[0]["error"]["type"] == "ValueError"
    assert attempts[1]["error"] is None
    for attempt in attempts:
        assert ts(attempt["finished_at"]) >= ts(attempt["leased_at"])


async def test_attempts_of_unknown_job_is_404(api: httpx.AsyncClient) -> None:
    assert_error(await api.get("/v1/jobs/99999/attempts"), 404, "not_found")


# ---- cancel --------------------------------------------------------------------------------
async def test_cancel_pending_job(api: httpx.AsyncClient) -> None:
    job = await enqueue(api)
    response = await api.post(f"/v1/jobs/{job['id']}/cancel")
    assert response.status_code == 200
    cancelled = response.json()
    assert cancelled["state"] == "cancelled"
    assert cancelled["finished_at"] is not None
    assert await lease(api) == []
    again = await api.post(f"/v1/jobs/{job['id']}/cancel")
    assert_error(again, 409, "invalid_transition")


async def test_cancel_leased_job_tells_the_worker(api: httpx.AsyncClient) -> None:
    job = await enqueue(api)
    got = await lease_one(api)
    before = await heartbeat(api, job["id"], got["lease_token"])
    assert before.status_code == 200 and before.json()["cancel_requested"] is False

    response = await api.post(f"/v1/jobs/{job['id']}/cancel")
    assert response.status_code == 200
    assert response.json()["state"] == "cancelled"

    beat = await heartbeat(api, job["id"], got["lease_token"])
    assert beat.status_code == 200, beat.text
    assert beat.json()["cancel_requested"] is True

    assert_error(await complete(api, job["id"], got["lease_token"], {"late": 1}), 409)
    assert_error(await fail(api, job["id"], got["lease_token"]), 409, "lease_lost")
    final = await get_job(api, job["id"])
    assert final["state"] == "cancelled"
    assert final["result"] is None
    attempts = (await api.get(f"/v1/jobs/{job['id']}/attempts")).json()["attempts"]
    assert [a["outcome"] for a in attempts] == ["cancelled"]


async def test_cancel_terminal_and_unknown(api: httpx.AsyncClient) -> None:
    await enqueue(api)
    got = await lease_one(api)
    await complete(api, got["job_id"], got["lease_token"])
    error = assert_error(
        await api.post(f"/v1/jobs/{got['job_id']}/cancel"), 409, "invalid_transition"
    )
    assert "succeeded" in error["message"]
    assert (await get_job(api, got["job_id"]))["state"] == "succeeded"
    assert_error(await api.post("/v1/jobs/424242/cancel"), 404, "not_found")


# ---- retry ---------------------------------------------------------------------------------
async def test_retry_refused_unless_dlq_or_cancelled(api: httpx.AsyncClient) -> None:
    pending = await enqueue(api, queue="p")
    assert_error(await api.post(f"/v1/jobs/{pending['id']}/retry"), 409, "invalid_transition")
    leased_job = await enqueue(api, queue="l")
    got = await lease_one(api, queues=["l"])
    assert_error(await api.post(f"/v1/jobs/{leased_job['id']}/retry"), 409, "invalid_transition")
    await complete(api, got["job_id"], got["lease_token"])
    assert_error(await api.post(f"/v1/jobs/{leased_job['id']}/retry"), 409, "invalid_transition")
    assert_error(await api.post("/v1/jobs/777777/retry"), 404, "not_found")


async def test_retry_from_dlq_gives_a_fresh_attempt_budget(api: httpx.AsyncClient) -> None:
    job = await enqueue(api, max_attempts=2)
    for _ in range(2):
        got = await lease_one(api)
        assert (
            await fail(api, job["id"], got["lease_token"], retry_after_seconds=0)
        ).status_code == 200
    assert (await get_job(api, job["id"]))["state"] == "dlq"
    assert await lease(api) == []

    response = await api.post(f"/v1/jobs/{job['id']}/retry")
    assert response.status_code == 200, response.text
    retried = response.json()
    assert retried["state"] == "pending"
    assert retried["attempts"] == 0
    assert retried["finished_at"] is None
    # Two more attempts are allowed again.
    got = await lease_one(api)
    assert got["attempt"] == 1
    assert (await fail(api, job["id"], got["lease_token"], retry_after_seconds=0)).json()[
        "state"
    ] == "pending"
    got = await lease_one(api)
    assert (await fail(api, job["id"], got["lease_token"], retry_after_seconds=0)).json()[
        "state"
    ] == "dlq"


async def test_retry_from_cancelled(api: httpx.AsyncClient) -> None:
    job = await enqueue(api)
    await lease_one(api)
    await api.post(f"/v1/jobs/{job['id']}/cancel")
    response = await api.post(f"/v1/jobs/{job['id']}/retry")
    assert response.status_code == 200
    assert response.json()["state"] == "pending"
    assert response.json()["cancel_requested"] is False
    got = await lease_one(api)
    assert got["job_id"] == job["id"]
    assert (await complete(api, job["id"], got["lease_token"], "ok")).json()["state"] == "succeeded"


# ---- dead-letter queue ---------------------------------------------------------------------
async def _dead_letter(api: httpx.AsyncClient, queue: str, type_: str) -> str:
    job = await enqueue(api, type_, queue=queue)
    got = await lease_one(api, queues=[queue])
    response = await fail(api, job["id"], got["lease_token"], retryable=False)
    assert response.json()["state"] == "dlq"
    return str(job["id"])


async def test_dlq_list_and_redrive(api: httpx.AsyncClient) -> None:
    a1 = await _dead_letter(api, "qa", "x")
    a2 = await _dead_letter(api, "qa", "y")
    b1 = await _dead_letter(api, "qb", "x")
    b2 = await _dead_letter(api, "qb", "x")
    live = await enqueue(api, queue="qa")

    async def dlq(**params: Any) -> set[str]:
        response = await api.get("/v1/dlq", params=params)
        assert response.status_code == 200, response.text
        return {j["id"] for j in response.json()["jobs"]}

    assert await dlq() == {a1, a2, b1, b2}
    assert live["id"] not in await dlq(queue="qa")
    assert await dlq(queue="qa") == {a1, a2}
    assert await dlq(type="x") == {a1, b1, b2}
    assert await dlq(queue="qb", type="y") == set()
    page = (await api.get("/v1/dlq", params={"limit": 3})).json()
    assert len(page["jobs"]) == 3 and page["next_cursor"] is not None
    rest = (await api.get("/v1/dlq", params={"limit": 3, "cursor": page["next_cursor"]})).json()
    assert {j["id"] for j in page["jobs"] + rest["jobs"]} == {a1, a2, b1, b2}

    redriven = await api.post("/v1/dlq/redrive", json={"queue": "qa", "type": "y"})
    assert redriven.status_code == 200 and redriven.json() == {"redriven": 1}
    assert (await get_job(api, a2))["state"] == "pending"
    assert (await get_job(api, a2))["attempts"] == 0

    limited = await api.post("/v1/dlq/redrive", json={"type": "x", "limit": 2})
    assert limited.json() == {"redriven": 2}
    assert len(await dlq()) == 1
    everything = await api.post("/v1/dlq/redrive", json={})
    assert everything.json() == {"redriven": 1}
    assert await dlq() == set()
    assert (await api.post("/v1/dlq/redrive")).json() == {"redriven": 0}
    states = {(await get_job(api, i))["state"] for i in (a1, a2, b1, b2)}
    assert states == {"pending"}


# ---- lease ---------------------------------------------------------------------------------
async def test_lease_shape_and_max_jobs(api: httpx.AsyncClient) -> None:
    for i in range(5):
        await enqueue(api, payload={"i": i}, timeout_seconds=60)
    now_ish = time.time()
    first = await lease(api, max_jobs=3)
    assert len(first) == 3
    for item in first:
        assert set(item) >= LEASE_FIELDS
        assert item["attempt"] == 1
        assert item["queue"] == "default" and item["type"] == "t"
        assert len(item["lease_token"]) >= 22  # >= 128 bits, url-safe base64
        assert _close(ts(item["lease_expires_at"]).timestamp(), now_ish + 30, 10)
        assert _close(ts(item["deadline"]).timestamp(), now_ish + 60, 10)
    assert len({item["lease_token"] for item in first}) == 3
    second = await lease(api, max_jobs=3)
    assert len(second) == 2
    assert await lease(api, max_jobs=100) == []
    payloads = sorted(item["payload"]["i"] for item in first + second)
    assert payloads == [0, 1, 2, 3, 4]
    for item in first + second:
        job = await get_job(api, item["job_id"])
        assert job["state"] == "leased" and job["attempts"] == 1
        assert job["lease_expires_at"] == item["lease_expires_at"]


async def test_lease_queues_and_types(api: httpx.AsyncClient) -> None:
    d = await enqueue(api, "a")
    q1 = await enqueue(api, "a", queue="q1")
    q2b = await enqueue(api, "b", queue="q2")
    q2a = await enqueue(api, "a", queue="q2")
    assert [x["job_id"] for x in await lease(api, max_jobs=10)] == [d["id"]]
    assert await lease(api, queues=["nope"]) == []
    got = await lease(api, queues=["q2"], types=["b", "zzz"], max_jobs=10)
    assert [x["job_id"] for x in got] == [q2b["id"]]
    got = await lease(api, queues=["q1", "q2"], max_jobs=10)
    assert {x["job_id"] for x in got} == {q1["id"], q2a["id"]}


async def test_lease_order_priority_then_run_at_then_creation(
    api: httpx.AsyncClient, service: JobService
) -> None:
    now = await service.db_now()
    p5 = await enqueue(api, priority=5)
    p0_late = await enqueue(api, priority=0, run_at=(now - timedelta(seconds=10)).isoformat())
    p9 = await enqueue(api, priority=9)
    p0_early = await enqueue(api, priority=0, run_at=(now - timedelta(seconds=60)).isoformat())
    p0_same_a = await enqueue(api, priority=1, run_at=(now - timedelta(seconds=5)).isoformat())
    p0_same_b = await enqueue(api, priority=1, run_at=(now - timedelta(seconds=5)).isoformat())
    order = [(await lease_one(api))["job_id"] for _ in range(6)]
    expected = [p0_early, p0_late, p0_same_a, p0_same_b, p5, p9]
    assert order == [j["id"] for j in expected]


async def test_lease_batch_takes_the_best_jobs(api: httpx.AsyncClient) -> None:
    low = [await enqueue(api, priority=9) for _ in range(3)]
    high = [await enqueue(api, priority=0) for _ in range(2)]
    got = await lease(api, max_jobs=2)
    assert {x["job_id"] for x in got} == {j["id"] for j in high}
    assert len(low) == 3


async def test_job_is_never_leased_before_run_at(
    api: httpx.AsyncClient, service: JobService
) -> None:
    job = await enqueue(api, delay_seconds=3600)
    assert await lease(api, max_jobs=10) == []
    now = await service.db_now()
    early = await service.store.lease(LeaseRequest("w"), now=now + timedelta(seconds=3500))
    assert early == []
    on_time = await service.store.lease(LeaseRequest("w"), now=now + timedelta(seconds=3601))
    assert [x.job_id for x in on_time] == [int(job["id"])]


async def test_lease_long_poll_is_woken_by_an_enqueue(api: httpx.AsyncClient) -> None:
    async def enqueue_later() -> float:
        await asyncio.sleep(0.3)
        await enqueue(api, "late", queue="poll")
        return time.monotonic()

    started = time.monotonic()
    response, enqueued_at = await asyncio.gather(
        api.post(
            "/v1/workers/lease", json={"worker_id": "w", "queues": ["poll"], "wait_seconds": 20}
        ),
        enqueue_later(),
    )
    answered = time.monotonic()
    assert response.status_code == 200
    leases = response.json()["leases"]
    assert [x["type"] for x in leases] == ["late"]
    assert answered - started >= 0.3
    assert answered - enqueued_at < 1.0


async def test_lease_long_poll_is_woken_by_a_retry(api: httpx.AsyncClient) -> None:
    job = await enqueue(api, queue="poll")
    await lease_one(api, queues=["poll"])
    await api.post(f"/v1/jobs/{job['id']}/cancel")

    async def retry_later() -> float:
        await asyncio.sleep(0.3)
        assert (await api.post(f"/v1/jobs/{job['id']}/retry")).status_code == 200
        return time.monotonic()

    response, retried_at = await asyncio.gather(
        api.post(
            "/v1/workers/lease", json={"worker_id": "w", "queues": ["poll"], "wait_seconds": 20}
        ),
        retry_later(),
    )
    assert [x["job_id"] for x in response.json()["leases"]] == [job["id"]]
    assert time.monotonic() - retried_at < 1.0


async def test_lease_long_poll_ends_empty_when_the_wait_ends(api: httpx.AsyncClient) -> None:
    await enqueue(api, queue="elsewhere")
    started = time.monotonic()
    leases = await lease(api, queues=["poll"], wait_seconds=0.5)
    elapsed = time.monotonic() - started
    assert leases == []
    assert 0.45 <= elapsed < 3


# ---- heartbeat -----------------------------------------------------------------------------
async def test_heartbeat_extends_the_lease(api: httpx.AsyncClient, service: JobService) -> None:
    now = await service.db_now()
    job = await enqueue(api, lease_seconds=30, run_at=(now - timedelta(minutes=5)).isoformat())
    # A lease taken 20 s ago (moved clock): it has about 10 s left.
    (old,) = await service.store.lease(LeaseRequest("w"), now=now - timedelta(seconds=20))
    assert _close((old.lease_expires_at - now).total_seconds(), 10)
    response = await heartbeat(api, job["id"], old.lease_token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) >= {"lease_expires_at", "cancel_requested"}
    assert body["cancel_requested"] is False
    extended = ts(body["lease_expires_at"])
    assert _close((extended - now).total_seconds(), 30)
    assert (await get_job(api, job["id"]))["lease_expires_at"] == body["lease_expires_at"]


async def test_a_lease_that_ran_out_is_lost_once_the_reaper_ends_it(
    api: httpx.AsyncClient, service: JobService, reaper: Reaper
) -> None:
    now = await service.db_now()
    job = await enqueue(api, lease_seconds=30, run_at=(now - timedelta(minutes=5)).isoformat())
    (old,) = await service.store.lease(LeaseRequest("w"), now=now - timedelta(seconds=31))
    assert await reaper.run_once(now=now) is not None
    assert_error(await heartbeat(api, job["id"], old.lease_token), 409, "lease_lost")
    assert_error(await complete(api, job["id"], old.lease_token), 409, "lease_lost")
    assert (await get_job(api, job["id"]))["state"] == "pending"


async def test_heartbeat_wrong_token_and_unknown_job(api: httpx.AsyncClient) -> None:
    job = await enqueue(api)
    await lease_one(api)
    assert_error(await heartbeat(api, job["id"], "not-the-token"), 409, "lease_lost")
    assert_error(await heartbeat(api, "31337", "x"), 404, "not_found")


async def test_heartbeat_details_are_kept_and_handed_to_the_next_attempt(
    api: httpx.AsyncClient,
) -> None:
    job = await enqueue(api)
    got = await lease_one(api)
    assert got["heartbeat_details"] is None
    details = {"processed": 41, "cursor": "abc"}
    assert (await heartbeat(api, job["id"], got["lease_token"], details=details)).status_code == 200
    assert (await get_job(api, job["id"]))["heartbeat_details"] == details
    # A heartbeat without details keeps them.
    assert (await heartbeat(api, job["id"], got["lease_token"])).status_code == 200
    assert (await get_job(api, job["id"]))["heartbeat_details"] == details

    response = await fail(api, job["id"], got["lease_token"], retry_after_seconds=0)
    assert response.json()["state"] == "pending"
    again = await lease_one(api)
    assert again["attempt"] == 2
    assert again["heartbeat_details"] == details


async def test_heartbeat_details_survive_a_lease_expiry(
    api: httpx.AsyncClient, service: JobService, reaper: Reaper
) -> None:
    job = await enqueue(api, retry={"initial_seconds": 1, "jitter": False})
    got = await lease_one(api)
    await heartbeat(api, job["id"], got["lease_token"], details={"step": 3})
    now = await service.db_now()
    reaped = await reaper.run_once(now=now + timedelta(seconds=60))
    assert reaped is not None and reaped.lease_expired == 1
    later = await service.store.lease(LeaseRequest("w2"), now=now + timedelta(seconds=120))
    assert [x.heartbeat_details for x in later] == [{"step": 3}]


# ---- complete ------------------------------------------------------------------------------
async def test_complete_then_replay_then_other_key(api: httpx.AsyncClient) -> None:
    job = await enqueue(api)
    got = await lease_one(api)
    first = await complete(api, job["id"], got["lease_token"], {"answer": 42})
    assert first.status_code == 200, first.text
    done = first.json()
    assert done["state"] == "succeeded"
    assert done["result"] == {"answer": 42}
    assert done["finished_at"] is not None
    assert done["lease_expires_at"] is None

    # The same completion again (default key: the lease token): same stored result.
    replay = await complete(api, job["id"], got["lease_token"], {"answer": 42})
    assert replay.status_code == 200
    assert replay.json()["result"] == {"answer": 42}
    assert replay.json()["state"] == "succeeded"
    # Same key, different result: still the stored one, unchanged.
    replay2 = await complete(api, job["id"], got["lease_token"], {"answer": 0})
    assert replay2.status_code == 200
    assert replay2.json()["result"] == {"answer": 42}

    other = await complete(api, job["id"], got["lease_token"], {"x": 1}, idempotency_key="other")
    error = assert_error(other, 409, "already_completed")
    assert error["details"]["result"] == {"answer": 42}
    assert (await get_job(api, job["id"]))["result"] == {"answer": 42}


async def test_complete_with_explicit_idempotency_key(api: httpx.AsyncClient) -> None:
    job = await enqueue(api)
    got = await lease_one(api)
    r1 = await complete(api, job["id"], got["lease_token"], [1, 2], idempotency_key="K")
    assert r1.status_code == 200 and r1.json()["result"] == [1, 2]
    r2 = await complete(api, job["id"], got["lease_token"], [3], idempotency_key="K")
    assert r2.status_code == 200 and r2.json()["result"] == [1, 2]
    # The lease token alone is another key now.
    assert_error(
        await complete(api, job["id"], got["lease_token"], [1, 2]), 409, "already_completed"
    )


async def test_complete_with_a_stale_token_changes_nothing(
    api: httpx.AsyncClient, service: JobService, reaper: Reaper
) -> None:
    job = await enqueue(api, retry={"initial_seconds": 0.001, "jitter": False})
    stale = await lease_one(api)
    now = await service.db_now()
    assert_error(await complete(api, job["id"], "made-up-token", 1), 409, "lease_lost")

    # The first lease expires (moved clock); the job is handed to someone else.
    reaped = await reaper.run_once(now=now + timedelta(seconds=31))
    assert reaped is not None and reaped.lease_expired == 1 and reaped.retried == 1
    after_reap = await get_job(api, job["id"])
    assert after_reap["state"] == "pending"
    assert after_reap["last_error"] is not None
    # The reaper ran at the moved clock, so the retry is due on that clock too.
    (lease2,) = await service.store.lease(LeaseRequest("w2"), now=now + timedelta(seconds=32))
    assert lease2.attempt == 2
    current = {"lease_token": lease2.lease_token}
    before = await get_job(api, job["id"])

    error = assert_error(
        await complete(api, job["id"], stale["lease_token"], "stale"), 409, "lease_lost"
    )
    assert "result" not in (error.get("details") or {})
    assert await get_job(api, job["id"]) == before
    assert_error(await fail(api, job["id"], stale["lease_token"]), 409, "lease_lost")
    assert_error(await heartbeat(api, job["id"], stale["lease_token"]), 409, "lease_lost")
    assert await get_job(api, job["id"]) == before

    ok = await complete(api, job["id"], current["lease_token"], "fresh")
    assert ok.status_code == 200 and ok.json()["result"] == "fresh"
    # The stale holder, trying again after success with its own key: already completed.
    late = await complete(api, job["id"], stale["lease_token"], "stale")
    assert assert_error(late, 409, "already_completed")["details"]["result"] == "fresh"
    attempts = (await api.get(f"/v1/jobs/{job['id']}/attempts")).json()["attempts"]
    assert [a["outcome"] for a in attempts] == ["lease_expired", "succeeded"]


async def test_complete_unknown_job_is_404(api: httpx.AsyncClient) -> None:
    assert_error(await complete(api, "987654", "tok"), 404, "not_found")


# ---- fail ----------------------------------------------------------------------------------
async def test_fail_retries_with_backoff(api: httpx.AsyncClient, service: JobService) -> None:
    job = await enqueue(api, retry={"initial_seconds": 10, "multiplier": 3, "jitter": False})
    got = await lease_one(api)
    now = await service.db_now()
    response = await fail(api, job["id"], got["lease_token"], "oops", type="IOError")
    assert response.status_code == 200, response.text
    failed = response.json()
    assert failed["state"] == "pending"
    assert failed["attempts"] == 1
    assert failed["lease_expires_at"] is None
    assert failed["last_error"]["message"] == "oops"
    assert failed["last_error"]["type"] == "IOError"
    assert _close((ts(failed["run_at"]) - now).total_seconds(), 10)
    assert await lease(api) == []  # not before its run_at

    (second,) = await service.store.lease(LeaseRequest("w"), now=now + timedelta(seconds=11))
    assert second.attempt == 2
    now2 = await service.db_now()
    failed2 = (await fail(api, job["id"], second.lease_token)).json()
    assert failed2["state"] == "pending"
    assert _close((ts(failed2["run_at"]) - now2).total_seconds(), 30)  # 10 * 3^1


async def test_fail_backoff_with_jitter_stays_under_the_ceiling(
    api: httpx.AsyncClient, service: JobService
) -> None:
    job = await enqueue(api, retry={"initial_seconds": 100, "max_seconds": 50})
    got = await lease_one(api)
    now = await service.db_now()
    failed = (await fail(api, job["id"], got["lease_token"])).json()
    delay = (ts(failed["run_at"]) - now).total_seconds()
    assert -1 <= delay <= 51  # full jitter in [0, min(max_seconds, initial)]


async def test_fail_non_retryable_goes_to_dlq(api: httpx.AsyncClient) -> None:
    job = await enqueue(api, max_attempts=10)
    got = await lease_one(api)
    response = await fail(api, job["id"], got["lease_token"], "fatal", retryable=False)
    assert response.status_code == 200
    dead = response.json()
    assert dead["state"] == "dlq"
    assert dead["finished_at"] is not None
    assert dead["last_error"]["message"] == "fatal"
    assert [j["id"] for j in (await api.get("/v1/dlq")).json()["jobs"]] == [job["id"]]


async def test_fail_with_attempts_exhausted_goes_to_dlq(api: httpx.AsyncClient) -> None:
    job = await enqueue(api, max_attempts=1)
    got = await lease_one(api)
    dead = (await fail(api, job["id"], got["lease_token"])).json()
    assert dead["state"] == "dlq"
    assert dead["attempts"] == 1


async def test_fail_retry_after_zero_is_pending_now(
    api: httpx.AsyncClient, service: JobService
) -> None:
    job = await enqueue(api, retry={"initial_seconds": 3600, "jitter": False})
    got = await lease_one(api)
    now = await service.db_now()
    again = (await fail(api, job["id"], got["lease_token"], retry_after_seconds=0)).json()
    assert again["state"] == "pending"
    assert _close((ts(again["run_at"]) - now).total_seconds(), 0, 2)
    assert (await lease_one(api))["attempt"] == 2


async def test_fail_retry_after_overrides_backoff(
    api: httpx.AsyncClient, service: JobService
) -> None:
    job = await enqueue(api, retry={"initial_seconds": 1, "jitter": False})
    got = await lease_one(api)
    now = await service.db_now()
    again = (await fail(api, job["id"], got["lease_token"], retry_after_seconds=500)).json()
    assert _close((ts(again["run_at"]) - now).total_seconds(), 500)


async def test_fail_stale_token(api: httpx.AsyncClient) -> None:
    job = await enqueue(api)
    got = await lease_one(api)
    before = await get_job(api, job["id"])
    assert_error(await fail(api, job["id"], "nope"), 409, "lease_lost")
    assert await get_job(api, job["id"]) == before
    assert (
        await fail(api, job["id"], got["lease_token"], retry_after_seconds=0)
    ).status_code == 200
    assert_error(await fail(api, job["id"], got["lease_token"]), 409, "lease_lost")
    assert_error(await fail(api, "5555555", "x"), 404, "not_found")


# ---- batch worker extensions ---------------------------------------------------------------
async def test_batch_complete_gives_a_status_per_item(api: httpx.AsyncClient) -> None:
    jobs = [await enqueue(api) for _ in range(3)]
    leases = await lease(api, max_jobs=3)
    by_job = {x["job_id"]: x["lease_token"] for x in leases}
    j0, j1, j2 = (j["id"] for j in jobs)
    # j2 is completed first with another key.
    assert (await complete(api, j2, by_job[j2], "first", idempotency_key="a")).status_code == 200
    body = {
        "completions": [
            {"job_id": j0, "lease_token": by_job[j0], "result": {"n": 0}},
            {"job_id": j1, "lease_token": "wrong", "result": None},
            {"job_id": j2, "lease_token": by_job[j2], "result": "second"},
            {"job_id": "999999", "lease_token": "x"},
            {"job_id": "abc", "lease_token": "x"},
            {"job_id": j0, "lease_token": by_job[j0], "result": {"n": 0}},
        ]
    }
    response = await api.post("/v1/workers/complete", json=body)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == [200, 409, 409, 404, 404, 200]
    assert [r["job_id"] for r in results] == [j0, j1, j2, "999999", "abc", j0]
    # The completed job itself is optional in this extension's answer; the database is not.
    if "job" in results[0]:
        assert results[0]["job"]["state"] == "succeeded"
        assert results[0]["job"]["result"] == {"n": 0}
    assert (await get_job(api, j0))["result"] == {"n": 0}
    assert (await get_job(api, j2))["result"] == "first"
    assert results[1]["error"]["code"] == "lease_lost"
    assert results[2]["error"]["code"] == "already_completed"
    assert results[2]["error"]["details"]["result"] == "first"
    assert results[3]["error"]["code"] == "not_found"
    if "job" in results[5]:
        assert results[5]["job"]["result"] == {"n": 0}
    assert (await get_job(api, j1))["state"] == "leased"
    # A replay of the whole batch: the same answers.
    again = (await api.post("/v1/workers/complete", json=body)).json()["results"]
    assert [r["status"] for r in again] == [200, 409, 409, 404, 404, 200]


async def test_batch_heartbeat_gives_a_status_per_item(api: httpx.AsyncClient) -> None:
    jobs = [await enqueue(api) for _ in range(2)]
    by_job = {x["job_id"]: x["lease_token"] for x in await lease(api, max_jobs=2)}
    j0, j1 = (j["id"] for j in jobs)
    await api.post(f"/v1/jobs/{j1}/cancel")
    body = {
        "heartbeats": [
            {"job_id": j0, "lease_token": by_job[j0], "details": {"p": 1}},
            {"job_id": j1, "lease_token": by_job[j1]},
            {"job_id": j0, "lease_token": "wrong"},
            {"job_id": "424242", "lease_token": "x"},
        ]
    }
    response = await api.post("/v1/workers/heartbeat", json=body)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == [200, 200, 409, 404]
    assert results[0]["cancel_requested"] is False
    assert results[0]["lease_expires_at"] is not None
    assert results[1]["cancel_requested"] is True
    assert results[2]["error"]["code"] == "lease_lost"
    assert results[3]["error"]["code"] == "not_found"
    assert (await get_job(api, j0))["heartbeat_details"] == {"p": 1}


async def test_batch_worker_calls_validate_their_bodies(api: httpx.AsyncClient) -> None:
    assert_error(
        await api.post("/v1/workers/complete", json={"completions": []}), 422, field="completions"
    )
    assert_error(
        await api.post("/v1/workers/heartbeat", json={"heartbeats": [{"job_id": "1"}]}),
        422,
        field="lease_token",
    )


# ---- operations ----------------------------------------------------------------------------
async def test_health_and_readiness(api: httpx.AsyncClient) -> None:
    health = await api.get("/healthz")
    assert health.status_code == 200
    ready = await api.get("/readyz")
    assert ready.status_code == 200, ready.text


async def test_metrics_json_and_prometheus(
    api: httpx.AsyncClient, service: JobService, reaper: Reaper
) -> None:
    for _ in range(3):
        await enqueue(api, queue="m")
    await enqueue(api, queue="other")
    ok, failing, expiring = await lease(api, queues=["m"], max_jobs=3)
    await complete(api, ok["job_id"], ok["lease_token"], 1)
    await fail(api, failing["job_id"], failing["lease_token"], retryable=False)
    now = await service.db_now()
    await reaper.run_once(now=now + timedelta(minutes=5))
    assert (await get_job(api, expiring["job_id"]))["state"] == "pending"

    response = await api.get("/v1/metrics")
    assert response.status_code == 200
    body = response.json()
    assert body["jobs"]["m"] == {"succeeded": 1, "dlq": 1, "pending": 1}
    assert body["jobs"]["other"] == {"pending": 1}
    totals = body["totals"]
    for name in ("leased", "succeeded", "failed", "retried", "dead_lettered", "expired"):
        assert name in totals, name
    assert totals["leased"] == 3
    assert totals["succeeded"] == 1
    assert totals["failed"] == 1
    assert totals["dead_lettered"] == 1
    assert totals["expired"] == 1
    assert totals["retried"] == 1

    text = await api.get("/metrics")
    assert text.status_code == 200
    assert text.headers["content-type"].startswith("text/plain")
    lines = text.text.splitlines()
    assert 'orchestrator_jobs{queue="m",state="succeeded"} 1.0' in lines
    assert 'orchestrator_jobs{queue="other",state="pending"} 1.0' in lines
    assert "orchestrator_leases_total 3.0" in lines


async def test_openapi_lists_the_contract_and_the_extensions(api: httpx.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()
    paths = document["paths"]
    expected = {
        "/v1/jobs": {"post", "get"},
        "/v1/jobs/batch": {"post"},
        "/v1/jobs/{job_id}": {"get"},
        "/v1/jobs/{job_id}/attempts": {"get"},
        "/v1/jobs/{job_id}/cancel": {"post"},
        "/v1/jobs/{job_id}/retry": {"post"},
        "/v1/dlq": {"get"},
        "/v1/dlq/redrive": {"post"},
        "/v1/workers/lease": {"post"},
        "/v1/jobs/{job_id}/heartbeat": {"post"},
        "/v1/jobs/{job_id}/complete": {"post"},
        "/v1/jobs/{job_id}/fail": {"post"},
        "/v1/workers/complete": {"post"},
        "/v1/workers/heartbeat": {"post"},
        "/healthz": {"get"},
        "/readyz": {"get"},
        "/v1/metrics": {"get"},
        "/metrics": {"get"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))
    schemas = document["components"]["schemas"]
    assert "retry_after_seconds" in schemas["ErrorInfoModel"]["properties"]


async def test_unknown_route_and_method_use_the_envelope(api: httpx.AsyncClient) -> None:
    assert_error(await api.get("/v1/nothing-here"), 404, "not_found")
    assert_error(await api.delete("/v1/jobs"), 405)
    assert_error(await api.get("/v1/workers/lease"), 405)


# ---- races through the API -------------------------------------------------------------------
async def test_concurrent_enqueues_with_one_key_create_one_job(api: httpx.AsyncClient) -> None:
    body = {"type": "t", "payload": {"same": True}, "idempotency_key": "race"}
    responses = await asyncio.gather(*(api.post("/v1/jobs", json=body) for _ in range(8)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 7 + [201], [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert len((await api.get("/v1/jobs")).json()["jobs"]) == 1


async def test_concurrent_completions_with_different_keys_store_one(
    api: httpx.AsyncClient,
) -> None:
    job = await enqueue(api)
    got = await lease_one(api)
    responses = await asyncio.gather(
        *(
            complete(api, job["id"], got["lease_token"], {"k": i}, idempotency_key=f"k{i}")
            for i in range(6)
        )
    )
    winners = [r for r in responses if r.status_code == 200]
    assert len(winners) == 1, [r.text for r in responses]
    stored = winners[0].json()["result"]
    for loser in (r for r in responses if r.status_code != 200):
        assert assert_error(loser, 409, "already_completed")["details"]["result"] == stored
    assert (await get_job(api, job["id"]))["result"] == stored


async def test_concurrent_leases_never_hand_out_a_job_twice(api: httpx.AsyncClient) -> None:
    await api.post("/v1/jobs/batch", json={"jobs": [{"type": "t"}] * 40})
    answers = await asyncio.gather(*(lease(api, f"w{i}", max_jobs=3) for i in range(20)))
    ids = [x["job_id"] for answer in answers for x in answer]
    assert len(ids) == len(set(ids)) == 40

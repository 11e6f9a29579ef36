"""v1.1 through the HTTP API: queues (list, settings, pause, resume), snooze, retention."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from job_orchestrator.services.cleaner import Cleaner
from job_orchestrator.services.jobs import JobService
from tests.api.conftest import client_for, running_app
from tests.api.helpers import assert_error, complete, enqueue, get_job, lease, lease_one, ts

STATES = {"pending", "leased", "succeeded", "dlq", "cancelled"}


async def queues_by_name(api: httpx.AsyncClient) -> dict[str, dict[str, object]]:
    response = await api.get("/v1/queues")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"queues"}
    return {q["name"]: q for q in body["queues"]}


# ---- queues ------------------------------------------------------------------------------------
async def test_list_queues_shape(api: httpx.AsyncClient) -> None:
    await enqueue(api, queue="mail")
    await enqueue(api, queue="mail")
    await enqueue(api, queue="later", delay_seconds=600)
    queues = await queues_by_name(api)
    assert set(queues) == {"mail", "later"}
    mail = queues["mail"]
    assert set(mail) == {
        "name",
        "paused",
        "counts",
        "oldest_ready_seconds",
        "rate_limit_per_second",
        "concurrency_limit",
    }
    assert mail["paused"] is False
    assert mail["counts"] == {"pending": 2, "leased": 0, "succeeded": 0, "dlq": 0, "cancelled": 0}
    age = mail["oldest_ready_seconds"]
    assert isinstance(age, float | int) and 0 <= age < 60
    assert (mail["rate_limit_per_second"], mail["concurrency_limit"]) == (None, None)
    assert queues["later"]["oldest_ready_seconds"] is None  # nothing ready yet


async def test_put_queue_stores_the_fields_given(api: httpx.AsyncClient) -> None:
    response = await api.put("/v1/queues/q1", json={"rate_limit_per_second": 2.5})
    assert response.status_code == 200, response.text
    queue = response.json()
    assert (queue["name"], queue["paused"], queue["rate_limit_per_second"]) == ("q1", False, 2.5)
    assert set(queue["counts"]) == STATES
    response = await api.put("/v1/queues/q1", json={"concurrency_limit": 4, "paused": True})
    assert response.json()["rate_limit_per_second"] == 2.5
    assert (response.json()["concurrency_limit"], response.json()["paused"]) == (4, True)
    response = await api.put("/v1/queues/q1", json={"rate_limit_per_second": None})
    assert (response.json()["rate_limit_per_second"], response.json()["concurrency_limit"]) == (
        None,
        4,
    )
    # A queue with settings and no jobs is listed.
    assert (await queues_by_name(api))["q1"]["paused"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rate_limit_per_second": 0}, "rate_limit_per_second"),
        ({"rate_limit_per_second": -1}, "rate_limit_per_second"),
        ({"rate_limit_per_second": "fast"}, "rate_limit_per_second"),
        ({"concurrency_limit": 0}, "concurrency_limit"),
        ({"concurrency_limit": 1.5}, "concurrency_limit"),
        ({"paused": None}, "paused"),
        ({"paused": "yes"}, "paused"),
        ({"pasued": True}, "pasued"),
    ],
)
async def test_put_queue_refuses_bad_settings(
    api: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    assert_error(await api.put("/v1/queues/q", json=body), 422, "invalid_request", field=field)


async def test_queue_names_follow_the_enqueue_rules(api: httpx.AsyncClient) -> None:
    assert_error(await api.post(f"/v1/queues/{'x' * 256}/pause"), 422, field="name")
    response = await api.post("/v1/queues/caf%C3%A9%20bar/pause")
    assert response.status_code == 200 and response.json()["name"] == "café bar"


async def test_pause_and_resume(api: httpx.AsyncClient) -> None:
    job = await enqueue(api, queue="q")
    running = await lease_one(api, queues=["q"])
    paused = await api.post("/v1/queues/q/pause")
    assert paused.status_code == 200 and paused.json()["paused"] is True
    waiting = await enqueue(api, queue="q")  # accepted while paused
    assert await lease(api, queues=["q"], max_jobs=10) == []
    # The leased job runs on and completes.
    response = await complete(api, job["id"], running["lease_token"], {"ok": True})
    assert response.status_code == 200 and response.json()["state"] == "succeeded"
    resumed = await api.post("/v1/queues/q/resume")
    assert resumed.status_code == 200 and resumed.json()["paused"] is False
    assert resumed.json()["counts"]["pending"] == 1
    assert [x["job_id"] for x in await lease(api, queues=["q"], max_jobs=10)] == [waiting["id"]]


async def test_resume_wakes_a_waiting_long_poll(api: httpx.AsyncClient) -> None:
    """The fixture's fallback poll is 5 s: an answer well before that is the wake-up."""
    await api.post("/v1/queues/q/pause")
    job = await enqueue(api, queue="q")
    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.create_task(lease(api, queues=["q"], wait_seconds=10))
    await asyncio.sleep(0.3)  # the poll is waiting (nothing leasable)
    assert not poll.done()
    await api.post("/v1/queues/q/resume")
    leases = await asyncio.wait_for(poll, 10)
    assert [x["job_id"] for x in leases] == [job["id"]]
    assert loop.time() - started < 3


# ---- snooze ------------------------------------------------------------------------------------
async def test_snooze(api: httpx.AsyncClient, service: JobService) -> None:
    job = await enqueue(api, max_attempts=1)
    got = await lease_one(api)
    before = await service.db_now()
    response = await api.post(
        f"/v1/jobs/{job['id']}/snooze",
        json={"lease_token": got["lease_token"], "delay_seconds": 120, "details": {"page": 3}},
    )
    after = await service.db_now()
    assert response.status_code == 200, response.text
    snoozed = response.json()
    assert snoozed["state"] == "pending" and snoozed["attempts"] == 0
    assert snoozed["heartbeat_details"] == {"page": 3}
    assert (
        before + timedelta(seconds=120) <= ts(snoozed["run_at"]) <= after + timedelta(seconds=120)
    )
    assert snoozed == await get_job(api, job["id"])
    attempts = (await api.get(f"/v1/jobs/{job['id']}/attempts")).json()["attempts"]
    assert [(a["attempt"], a["outcome"]) for a in attempts] == [(1, "snoozed")]
    assert await lease(api, max_jobs=10) == []  # not before its run_at
    # Fenced: the token no longer holds a lease.
    again = await api.post(
        f"/v1/jobs/{job['id']}/snooze",
        json={"lease_token": got["lease_token"], "delay_seconds": 1},
    )
    assert_error(again, 409, "lease_lost")


async def test_snooze_errors(api: httpx.AsyncClient) -> None:
    job = await enqueue(api)
    got = await lease_one(api)
    url = f"/v1/jobs/{job['id']}/snooze"
    token = got["lease_token"]
    for delay in (-1, 31_536_001, "soon", True):
        body = {"lease_token": token, "delay_seconds": delay}
        assert_error(await api.post(url, json=body), 422, field="delay_seconds")
    assert_error(await api.post(url, json={"lease_token": token}), 422, field="delay_seconds")
    assert_error(
        await api.post(url, json={"lease_token": "wrong", "delay_seconds": 1}), 409, "lease_lost"
    )
    assert_error(
        await api.post(
            "/v1/jobs/999999999/snooze", json={"lease_token": token, "delay_seconds": 1}
        ),
        404,
    )
    response = await api.post(url, json={"lease_token": token, "delay_seconds": 31_536_000})
    assert response.status_code == 200, response.text


# ---- retention ---------------------------------------------------------------------------------
async def test_the_cleaner_deletes_expired_jobs_and_metrics_count_them(
    database_url: str,
) -> None:
    settings = {"retain_succeeded": "30s", "retain_dlq": "forever"}
    async with running_app(database_url, **settings) as app, client_for(app) as api:
        await _retention_scenario(app, api)


async def _retention_scenario(app: FastAPI, api: httpx.AsyncClient) -> None:
    service: JobService = app.state.service
    cleaner: Cleaner = app.state.cleaner
    done = await enqueue(api, idempotency_key="nightly")
    got = await lease_one(api)
    assert (await complete(api, done["id"], got["lease_token"], 1)).status_code == 200
    dead = await enqueue(api, max_attempts=1)
    got = await lease_one(api)
    await api.post(
        f"/v1/jobs/{dead['id']}/fail",
        json={"lease_token": got["lease_token"], "error": {"message": "x", "retryable": False}},
    )
    pending = await enqueue(api)
    now = await service.db_now()
    early = await cleaner.run_once(now=now + timedelta(seconds=20))
    assert early is not None and early.total == 0
    result = await cleaner.run_once(now=now + timedelta(days=400))
    assert result is not None and result.deleted == {"succeeded": 1}
    assert_error(await api.get(f"/v1/jobs/{done['id']}"), 404)
    assert (await get_job(api, dead["id"]))["state"] == "dlq"  # forever
    assert (await get_job(api, pending["id"]))["state"] == "pending"
    metrics = (await api.get("/v1/metrics")).json()
    assert metrics["totals"]["deleted"] == 1
    text = (await api.get("/metrics")).text
    assert "# TYPE orchestrator_jobs_deleted_total counter" in text
    assert "orchestrator_jobs_deleted_total 1.0" in text
    # The key went with its job: the same key creates a new one.
    again = await api.post("/v1/jobs", json={"type": "t", "idempotency_key": "nightly"})
    assert again.status_code == 201 and again.json()["id"] != done["id"]


async def test_openapi_describes_queues_and_snooze(api: httpx.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()
    paths = document["paths"]
    assert set(paths["/v1/queues"]) == {"get"}
    assert set(paths["/v1/queues/{name}"]) == {"put"}
    assert "post" in paths["/v1/queues/{name}/pause"]
    assert "post" in paths["/v1/queues/{name}/resume"]
    assert "post" in paths["/v1/jobs/{job_id}/snooze"]
    assert "later release" in paths["/v1/queues/{name}"]["put"]["description"]
    schemas = document["components"]["schemas"]
    assert {"QueueOut", "QueueListOut", "SnoozeRequest", "QueueSettingsRequest"} <= set(schemas)
    assert "snoozed" in schemas["AttemptOutcome"]["enum"]

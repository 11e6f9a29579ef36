"""The Schedules section of API v1.1, rule by rule, on both databases.

Time is moved, never waited for: schedules are created at the database clock and the
scheduler is run by hand with ``run_once(now=...)`` (the app's background scheduler is off).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from job_orchestrator.api.app import create_app
from job_orchestrator.services.jobs import JobService
from job_orchestrator.services.schedules import Scheduler
from job_orchestrator.settings import Settings
from tests.api.helpers import assert_error, get_job, ts

JOB = {"type": "report", "queue": "cron", "payload": {"to": "ops"}}


@pytest.fixture
def scheduler(app: FastAPI) -> Scheduler:
    value: Scheduler = app.state.scheduler
    return value


async def put(api: httpx.AsyncClient, name: str, status: int = 201, **body: Any) -> dict[str, Any]:
    response = await api.put(f"/v1/schedules/{name}", json={"job": JOB, **body})
    assert response.status_code == status, response.text
    schedule: dict[str, Any] = response.json()
    return schedule


async def jobs_of(api: httpx.AsyncClient, name: str) -> list[dict[str, Any]]:
    response = await api.get("/v1/jobs", params={"queue": "cron", "limit": 500})
    assert response.status_code == 200
    jobs = [j for j in response.json()["jobs"] if j["schedule"] == name]
    return sorted(jobs, key=lambda j: int(j["id"]))


async def fire_at(scheduler: Scheduler, when: datetime) -> None:
    assert await scheduler.run_once(now=when) is not None


def at(schedule: dict[str, Any], seconds: float = 0.0) -> datetime:
    return ts(schedule["next_fire_at"]) + timedelta(seconds=seconds)


SCHEDULE_FIELDS = {
    "name", "cron", "every_seconds", "timezone", "job", "overlap", "catchup_window_seconds",
    "paused", "next_fire_at", "last_fire_at", "last_job_id", "created_at", "updated_at",
}  # fmt: skip


async def test_put_creates_with_defaults_then_replaces(api: httpx.AsyncClient) -> None:
    created = await put(api, "nightly", cron="0 3 * * *")
    assert set(created) == SCHEDULE_FIELDS
    assert created["name"] == "nightly" and created["cron"] == "0 3 * * *"
    assert created["every_seconds"] is None and created["timezone"] == "UTC"
    assert created["overlap"] == "skip" and created["catchup_window_seconds"] == 60
    assert created["paused"] is False
    assert ts(created["next_fire_at"]).strftime("%H:%M:%S") == "03:00:00"
    assert (created["last_fire_at"], created["last_job_id"]) == (None, None)
    assert created["job"]["type"] == "report" and created["job"]["queue"] == "cron"
    assert created["job"]["priority"] == 0 and created["job"]["max_attempts"] == 5  # defaults

    replaced = await put(
        api,
        "nightly",
        200,
        every_seconds=3600,
        timezone="Asia/Tokyo",
        overlap="allow",
        catchup_window_seconds=0,
    )
    assert (replaced["cron"], replaced["every_seconds"]) == (None, 3600)
    assert (replaced["timezone"], replaced["overlap"]) == ("Asia/Tokyo", "allow")
    assert replaced["catchup_window_seconds"] == 0
    assert ts(replaced["next_fire_at"]).strftime("%M:%S") == "00:00"  # whole hours UTC
    assert replaced["created_at"] == created["created_at"]
    assert ts(replaced["updated_at"]) >= ts(created["updated_at"])
    # The whole schedule: omitted fields take their defaults again.
    again = await put(api, "nightly", 200, cron="@daily")
    assert (again["overlap"], again["timezone"], again["every_seconds"]) == ("skip", "UTC", None)
    assert again["catchup_window_seconds"] == 60
    fetched = await api.get("/v1/schedules/nightly")
    assert fetched.status_code == 200 and fetched.json() == again


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"cron": "0 3 * *"}, "cron"),
        ({"cron": "0 0 * * * *"}, "cron"),
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "@reboot"}, "cron"),
        ({"cron": ""}, "cron"),
        ({"cron": 5}, "cron"),
        ({"cron": "0 3 * * *", "every_seconds": 60}, "cron"),
        ({}, "cron"),
        ({"every_seconds": 0}, "every_seconds"),
        ({"every_seconds": 1.5}, "every_seconds"),
        ({"every_seconds": True}, "every_seconds"),
        ({"every_seconds": 60, "timezone": "Mars/Base"}, "timezone"),
        ({"every_seconds": 60, "timezone": ""}, "timezone"),
        ({"every_seconds": 60, "overlap": "queue"}, "overlap"),
        ({"every_seconds": 60, "catchup_window_seconds": -1}, "catchup_window_seconds"),
        ({"every_seconds": 60, "catchup_window_seconds": 31_536_001}, "catchup_window_seconds"),
        ({"every_seconds": 60, "paused": "yes"}, "paused"),
        ({"every_seconds": 60, "job": {"type": "t", "run_at": "2030-01-01T00:00:00Z"}}, "run_at"),
        ({"every_seconds": 60, "job": {"type": "t", "delay_seconds": 5}}, "delay_seconds"),
        ({"every_seconds": 60, "job": {"type": "t", "idempotency_key": "k"}}, "idempotency_key"),
        ({"every_seconds": 60, "job": {"queue": "q"}}, "job.type"),
        ({"every_seconds": 60, "job": {"type": "t", "priority": 10}}, "job.priority"),
        ({"every_seconds": 60, "job": None}, "job"),
        ({"every_seconds": 60, "colour": "red"}, "colour"),
    ],
)
async def test_bad_bodies_are_422_naming_the_field(
    api: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    full = {"job": JOB, **body}
    response = await api.put("/v1/schedules/bad", json=full)
    assert_error(response, 422, "invalid_request", field=field)
    assert (await api.get("/v1/schedules/bad")).status_code == 404


@pytest.mark.parametrize("name", ["x" * 256, "nul%00name"])
async def test_bad_names_are_422(api: httpx.AsyncClient, name: str) -> None:
    response = await api.put(f"/v1/schedules/{name}", json={"every_seconds": 5, "job": JOB})
    assert_error(response, 422, "invalid_request", field="name")


async def test_names_follow_queue_names(api: httpx.AsyncClient) -> None:
    for name in ("x" * 255, "ünï code", "a.b:c-d_e"):
        schedule = await put(api, name, every_seconds=60)
        assert schedule["name"] == name
        assert (await api.get(f"/v1/schedules/{name}")).json()["name"] == name


async def test_unknown_schedule_is_404_for_every_call(api: httpx.AsyncClient) -> None:
    for method, path in (
        ("GET", "/v1/schedules/nope"),
        ("DELETE", "/v1/schedules/nope"),
        ("POST", "/v1/schedules/nope/pause"),
        ("POST", "/v1/schedules/nope/resume"),
        ("POST", "/v1/schedules/nope/trigger"),
    ):
        assert_error(await api.request(method, path), 404, "not_found")


async def test_list_pages_with_a_cursor(api: httpx.AsyncClient) -> None:
    for name in ("b", "a", "d", "c", "e"):
        await put(api, name, every_seconds=60)
    page = (await api.get("/v1/schedules", params={"limit": 2})).json()
    assert set(page) == {"schedules", "next_cursor"}
    assert [s["name"] for s in page["schedules"]] == ["a", "b"]
    names = [s["name"] for s in page["schedules"]]
    while page["next_cursor"] is not None:
        page = (
            await api.get("/v1/schedules", params={"limit": 2, "cursor": page["next_cursor"]})
        ).json()
        names += [s["name"] for s in page["schedules"]]
    assert names == ["a", "b", "c", "d", "e"]
    default = (await api.get("/v1/schedules")).json()
    assert len(default["schedules"]) == 5 and default["next_cursor"] is None
    for limit in (0, 501, "x"):
        response = await api.get("/v1/schedules", params={"limit": limit})
        assert_error(response, 422, field="limit")


async def test_a_fire_time_enqueues_one_job_with_the_contract_key(
    api: httpx.AsyncClient, scheduler: Scheduler
) -> None:
    schedule = await put(api, "tick", every_seconds=5)
    t = at(schedule)
    assert t.microsecond == 0 and t.timestamp() % 5 == 0
    await fire_at(scheduler, t - timedelta(milliseconds=1))  # not before T
    assert await jobs_of(api, "tick") == []
    await fire_at(scheduler, t + timedelta(milliseconds=300))
    await fire_at(scheduler, t + timedelta(seconds=1))  # again: no second job for T
    (job,) = await jobs_of(api, "tick")
    key_time = t.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert job["idempotency_key"] == f"schedule:tick:{key_time}"
    assert (job["schedule"], job["scheduled_for"]) == ("tick", key_time)
    assert (job["type"], job["payload"], job["state"]) == ("report", {"to": "ops"}, "pending")
    assert ts(job["created_at"]) >= t
    after = (await api.get("/v1/schedules/tick")).json()
    assert after["last_job_id"] == job["id"]
    assert after["last_fire_at"] == key_time
    assert ts(after["next_fire_at"]) == t + timedelta(seconds=5)


async def test_a_second_server_process_does_not_fire_while_one_leads(
    api: httpx.AsyncClient, app: FastAPI, scheduler: Scheduler
) -> None:
    schedule = await put(api, "tick", every_seconds=5, overlap="allow")
    other = Scheduler(app.state.schedules.store, holder_id="another-process")
    await fire_at(scheduler, at(schedule))
    assert await other.run_once(now=at(schedule, 5)) is None  # not the leader
    await fire_at(scheduler, at(schedule, 5))
    assert len(await jobs_of(api, "tick")) == 2


async def test_every_job_answer_carries_the_new_fields(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/jobs", json={"type": "plain"})
    job = response.json()
    assert (job["schedule"], job["scheduled_for"]) == (None, None)
    assert (await get_job(api, job["id"]))["schedule"] is None


async def test_overlap_skip_and_allow(api: httpx.AsyncClient, scheduler: Scheduler) -> None:
    skip = await put(api, "skip", every_seconds=10, overlap="skip")
    allow = await put(api, "allow", every_seconds=10, overlap="allow")
    t = at(skip)
    assert at(allow) == t
    for n in range(3):
        await fire_at(scheduler, t + timedelta(seconds=10 * n))
    # skip: the first job is still pending at the next two fire times.
    (first,) = await jobs_of(api, "skip")
    assert len(await jobs_of(api, "allow")) == 3
    assert (await api.get("/v1/schedules/skip")).json()["last_job_id"] == first["id"]
    # Once that job is terminal (cancelled here: its run_at is on the moved clock, ahead of
    # the real one a lease would use), the next fire time enqueues again.
    assert (await api.post(f"/v1/jobs/{first['id']}/cancel")).status_code == 200
    await fire_at(scheduler, t + timedelta(seconds=30))
    jobs = await jobs_of(api, "skip")
    assert [j["scheduled_for"] for j in jobs] == [
        first["scheduled_for"],
        (t + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    ]


async def test_catch_up_within_the_window_oldest_first(
    api: httpx.AsyncClient, scheduler: Scheduler
) -> None:
    schedule = await put(api, "tick", every_seconds=10, overlap="allow", catchup_window_seconds=30)
    t = at(schedule)
    # No server ran for 100 s: fire times no older than 30 s are enqueued, each under its key.
    await fire_at(scheduler, t + timedelta(seconds=100))
    jobs = await jobs_of(api, "tick")
    expected = [t + timedelta(seconds=s) for s in (70, 80, 90, 100)]
    assert [ts(j["scheduled_for"]) for j in jobs] == expected  # ids ascend: oldest first
    assert len({j["idempotency_key"] for j in jobs}) == 4
    assert ts((await api.get("/v1/schedules/tick")).json()["next_fire_at"]) == t + timedelta(
        seconds=110
    )


async def test_catch_up_is_subject_to_overlap(api: httpx.AsyncClient, scheduler: Scheduler) -> None:
    schedule = await put(api, "tick", every_seconds=10, catchup_window_seconds=60)
    await fire_at(scheduler, at(schedule, 40))
    (job,) = await jobs_of(api, "tick")
    assert ts(job["scheduled_for"]) == at(schedule)  # the oldest; the rest overlap it


async def test_pause_fires_nothing_and_resume_does_not_catch_up(
    api: httpx.AsyncClient, scheduler: Scheduler, service: JobService
) -> None:
    schedule = await put(api, "tick", every_seconds=5, overlap="allow", catchup_window_seconds=600)
    response = await api.post("/v1/schedules/tick/pause")
    assert response.status_code == 200
    paused = response.json()
    assert paused["paused"] is True and paused["next_fire_at"] is None
    assert (await api.post("/v1/schedules/tick/pause")).json()["paused"] is True
    await fire_at(scheduler, at(schedule, 60))
    assert await jobs_of(api, "tick") == []
    resumed = (await api.post("/v1/schedules/tick/resume")).json()
    assert resumed["paused"] is False
    assert ts(resumed["next_fire_at"]) > await service.db_now() - timedelta(seconds=1)
    await fire_at(scheduler, at(resumed))
    (job,) = await jobs_of(api, "tick")  # the paused time is not caught up
    assert job["scheduled_for"] == resumed["next_fire_at"]


async def test_put_paused(api: httpx.AsyncClient) -> None:
    schedule = await put(api, "tick", every_seconds=5, paused=True)
    assert schedule["paused"] is True and schedule["next_fire_at"] is None


async def test_trigger_enqueues_now_outside_the_fire_times(
    api: httpx.AsyncClient, scheduler: Scheduler
) -> None:
    schedule = await put(api, "tick", every_seconds=3600)
    response = await api.post("/v1/schedules/tick/trigger")
    assert response.status_code == 201, response.text
    job = response.json()
    assert (job["schedule"], job["scheduled_for"], job["idempotency_key"]) == ("tick", None, None)
    assert (job["type"], job["queue"], job["state"]) == ("report", "cron", "pending")
    second = (await api.post("/v1/schedules/tick/trigger")).json()
    assert second["id"] != job["id"]  # no key: every trigger is a job
    after = (await api.get("/v1/schedules/tick")).json()
    assert after["last_job_id"] is None and after["next_fire_at"] == schedule["next_fire_at"]
    # It does not count for overlap: the fire time still enqueues (skip is the default).
    await fire_at(scheduler, at(schedule))
    fired = [j for j in await jobs_of(api, "tick") if j["scheduled_for"] is not None]
    assert len(fired) == 1
    assert (await api.get("/v1/schedules/tick")).json()["last_job_id"] == fired[0]["id"]


async def test_delete_leaves_its_jobs(api: httpx.AsyncClient, scheduler: Scheduler) -> None:
    schedule = await put(api, "tick", every_seconds=5)
    await fire_at(scheduler, at(schedule))
    (job,) = await jobs_of(api, "tick")
    response = await api.delete("/v1/schedules/tick")
    assert response.status_code == 204 and response.content == b""
    assert_error(await api.get("/v1/schedules/tick"), 404, "not_found")
    assert (await get_job(api, job["id"]))["schedule"] == "tick"
    await fire_at(scheduler, at(schedule, 10))
    assert len(await jobs_of(api, "tick")) == 1


async def test_replacing_takes_effect_from_the_next_fire_time(
    api: httpx.AsyncClient, scheduler: Scheduler
) -> None:
    first = await put(api, "tick", every_seconds=3600, overlap="allow")
    replaced = await put(api, "tick", 200, every_seconds=5, overlap="allow")
    assert at(replaced) < at(first)
    await fire_at(scheduler, at(replaced))
    (job,) = await jobs_of(api, "tick")
    assert ts(job["scheduled_for"]) == at(replaced)


async def test_dst_cron_in_berlin_through_the_api(
    api: httpx.AsyncClient, scheduler: Scheduler
) -> None:
    """A cron in Europe/Berlin: next_fire_at is 03:00 local, whichever offset applies."""
    schedule = await put(api, "berlin", cron="0 3 * * *", timezone="Europe/Berlin")
    t = at(schedule)
    assert t.hour in (1, 2)  # 03:00 CEST or CET
    await fire_at(scheduler, t)
    (job,) = await jobs_of(api, "berlin")
    assert ts(job["scheduled_for"]) == t


async def test_openapi_describes_the_schedules(api: httpx.AsyncClient) -> None:
    doc = (await api.get("/openapi.json")).json()
    paths = doc["paths"]
    assert set(paths["/v1/schedules/{name}"]) >= {"put", "get", "delete"}
    assert "get" in paths["/v1/schedules"]
    for action in ("pause", "resume", "trigger"):
        assert "post" in paths[f"/v1/schedules/{{name}}/{action}"]
    schemas = doc["components"]["schemas"]
    assert set(schemas["ScheduleOut"]["properties"]) == SCHEDULE_FIELDS
    assert {"schedule", "scheduled_for"} <= set(schemas["JobOut"]["properties"])
    put_body = schemas["SchedulePutRequest"]["properties"]
    assert {"cron", "every_seconds", "timezone", "job", "overlap"} <= set(put_body)


# ---- scopes ------------------------------------------------------------------------------
KEYS = {"producer": "k-p", "worker": "k-w", "reader": "k-r", "admin": "k-a"}


@pytest.fixture
async def keyed(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    env = ",".join(f"{scope}:{key}" for scope, key in KEYS.items())
    app = create_app(Settings(database_url=database_url, api_keys=env), run_reaper=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def test_reads_need_reader_and_writes_need_admin(keyed: httpx.AsyncClient) -> None:
    def as_(scope: str) -> dict[str, str]:
        return {"authorization": f"Bearer {KEYS[scope]}"}

    body = {"every_seconds": 60, "job": JOB}
    for scope in ("producer", "worker", "reader"):
        response = await keyed.put("/v1/schedules/s", json=body, headers=as_(scope))
        assert_error(response, 403, "forbidden")
    assert (await keyed.put("/v1/schedules/s", json=body, headers=as_("admin"))).status_code == 201
    assert_error(await keyed.get("/v1/schedules/s"), 401)
    for scope in ("reader", "admin"):
        assert (await keyed.get("/v1/schedules/s", headers=as_(scope))).status_code == 200
        assert (await keyed.get("/v1/schedules", headers=as_(scope))).status_code == 200
    for scope in ("producer", "worker"):
        assert_error(await keyed.get("/v1/schedules", headers=as_(scope)), 403)
    for method, path in (
        ("POST", "/v1/schedules/s/pause"),
        ("POST", "/v1/schedules/s/resume"),
        ("POST", "/v1/schedules/s/trigger"),
        ("DELETE", "/v1/schedules/s"),
    ):
        for scope in ("producer", "worker", "reader"):
            response = await keyed.request(method, path, headers=as_(scope))
            assert_error(response, 403, "forbidden")
    assert (await keyed.delete("/v1/schedules/s", headers=as_("admin"))).status_code == 204


# ---- the scheduler in the running server -------------------------------------------------
def test_the_scheduler_sleeps_until_the_earliest_fire_time_capped() -> None:
    from job_orchestrator.domain.schedules import SchedulerStep

    scheduler = Scheduler(None, max_sleep=1.0)  # type: ignore[arg-type]
    now = datetime(2027, 1, 1, 12, 0, 0, 700_000).astimezone()

    def step(seconds: float | None) -> SchedulerStep:
        earliest = None if seconds is None else now + timedelta(seconds=seconds)
        return SchedulerStep(now=now, earliest_next_fire_at=earliest)

    assert scheduler.sleep_after(step(0.3)) == pytest.approx(0.3)  # wakes at T, not a tick
    assert scheduler.sleep_after(step(30)) == 1.0  # capped: sees other processes' schedules
    assert scheduler.sleep_after(step(-2)) == 0.0  # still due (a full batch): at once
    assert scheduler.sleep_after(step(None)) == 1.0  # no active schedule
    assert scheduler.sleep_after(None) == 1.0  # another process leads


async def test_the_background_scheduler_fires_in_a_running_server(database_url: str) -> None:
    """The wiring: a server with maintenance on enqueues an every-second schedule's jobs by
    itself (waiting on the real clock for the job, not asserting a time)."""
    import asyncio

    settings = Settings(database_url=database_url, auto_migrate=False)
    app = create_app(settings, run_reaper=True)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as api:
            await put(api, "tick", every_seconds=1)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 15
            while not await jobs_of(api, "tick"):
                assert loop.time() < deadline, "the scheduler enqueued nothing"
                await asyncio.sleep(0.1)
            (job, *_) = await jobs_of(api, "tick")
            assert ts(job["created_at"]) >= ts(job["scheduled_for"])

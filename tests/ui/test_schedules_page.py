"""The dashboard's schedules page over ASGI on both backends: next and last fire, the last
job's link, and pause/resume/trigger for an admin only."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from job_orchestrator.services.schedules import Scheduler, ScheduleService
from tests.ui.test_pages import SAME_SITE, client, login, open_app, secured  # noqa: F401

ADMIN = {"authorization": "Bearer admin-key"}


async def fired_schedule(app: FastAPI, name: str) -> int:
    """A schedule whose first fire time has been processed; the job id it enqueued."""
    async with client(app) as http:
        body = {"every_seconds": 60, "job": {"type": "report", "queue": "reports"}}
        response = await http.put(f"/v1/schedules/{name}", json=body, headers=ADMIN)
        assert response.status_code == 201, response.text
    service: ScheduleService = app.state.schedules
    schedule = await service.get(name)
    assert schedule.next_fire_at is not None
    scheduler: Scheduler = app.state.scheduler
    await scheduler.run_once(now=schedule.next_fire_at + timedelta(seconds=1))
    fired = await service.get(name)
    assert fired.last_job_id is not None
    return fired.last_job_id


async def test_a_reader_sees_fires_and_the_last_job_but_no_buttons(
    secured: FastAPI,  # noqa: F811
) -> None:
    job_id = await fired_schedule(secured, "nightly")
    async with client(secured) as http:
        await login(http, "read-key")
        overview = await http.get("/ui/")
        assert 'href="/ui/schedules"' in overview.text  # linked from the navigation
        page = await http.get("/ui/schedules")
        assert page.status_code == 200
        assert 'data-schedule="nightly"' in page.text and "every 60 s" in page.text
        assert f'href="/ui/jobs/{job_id}"' in page.text
        assert "ago" in page.text and "in " in page.text  # last fire, next fire
        assert "/ui/schedules/nightly/pause" not in page.text
        refused = await http.post("/ui/schedules/nightly/trigger", headers=SAME_SITE)
        assert refused.status_code == 403 and "admin scope" in refused.text
    service: ScheduleService = secured.state.schedules
    assert (await service.get("nightly")).last_job_id == job_id


async def test_an_admin_pauses_resumes_and_triggers(secured: FastAPI) -> None:  # noqa: F811
    job_id = await fired_schedule(secured, "hourly")
    service: ScheduleService = secured.state.schedules
    async with client(secured) as http:
        await login(http, "admin-key")
        page = await http.get("/ui/schedules")
        assert 'action="/ui/schedules/hourly/pause"' in page.text
        refused = await http.post("/ui/schedules/hourly/pause", headers={"origin": "null"})
        assert refused.status_code == 403 and not (await service.get("hourly")).paused

        paused = await http.post(
            "/ui/schedules/hourly/pause", headers=SAME_SITE, follow_redirects=True
        )
        assert paused.status_code == 200 and "is paused" in paused.text  # after the redirect
        assert 'action="/ui/schedules/hourly/resume"' in paused.text
        assert (await service.get("hourly")).next_fire_at is None

        resumed = await http.post(
            "/ui/schedules/hourly/resume", headers=SAME_SITE, follow_redirects=True
        )
        assert "active again" in resumed.text and not (await service.get("hourly")).paused

        triggered = await http.post(
            "/ui/schedules/hourly/trigger", headers=SAME_SITE, follow_redirects=False
        )
        assert triggered.status_code == 303
        assert "done=triggered" in triggered.headers["location"]
        shown = await http.get(triggered.headers["location"])
        assert "enqueued job" in shown.text
    assert (await service.get("hourly")).last_job_id == job_id  # a trigger does not change it


async def test_an_unknown_schedule_is_an_html_404(open_app: FastAPI) -> None:  # noqa: F811
    async with client(open_app) as http:
        response = await http.post("/ui/schedules/nope/trigger", headers=SAME_SITE)
        assert response.status_code == 404 and "<html" in response.text
        empty = await http.get("/ui/schedules")
        assert empty.status_code == 200 and "No schedules" in empty.text

"""The overview's queue pause/resume (admin only, same site) and the cleaner's counts."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from job_orchestrator.domain.models import Completion, LeaseRequest, NewJob
from job_orchestrator.services.cleaner import Cleaner
from job_orchestrator.services.jobs import JobService
from job_orchestrator.services.queues import QueueService
from tests.ui.test_pages import BASE, SAME_SITE, client, login, open_app, secured  # noqa: F401


async def test_an_admin_pauses_and_resumes_a_queue_from_the_overview(
    secured: FastAPI,  # noqa: F811
) -> None:
    service: JobService = secured.state.service
    queues: QueueService = secured.state.queues
    await service.enqueue_many([NewJob(type="t", queue="mail")])
    async with client(secured) as http:
        await login(http, "read-key")
        page = await http.get("/ui/")
        assert 'data-testid="queue-state"' in page.text and "active" in page.text
        assert 'data-testid="pause-queue"' not in page.text  # a reader sees no button
        refused = await http.post("/ui/queues/mail/pause", headers=SAME_SITE)
        assert refused.status_code == 403
        assert (await queues.get("mail")).settings.paused is False
        await http.post("/ui/logout", headers=SAME_SITE)
        await login(http, "admin-key")
        assert 'data-testid="pause-queue"' in (await http.get("/ui/")).text
        cross = await http.post("/ui/queues/mail/pause", headers={"origin": "https://evil.example"})
        assert cross.status_code == 403
        done = await http.post(
            "/ui/queues/mail/pause", headers={"origin": BASE}, follow_redirects=False
        )
        assert done.status_code == 303 and done.headers["location"] == "/ui/"
        assert (await queues.get("mail")).settings.paused is True
        page = await http.get("/ui/")
        assert 'data-testid="resume-queue"' in page.text and ">paused<" in page.text
        await http.post("/ui/queues/mail/resume", headers={"origin": BASE})
        assert (await queues.get("mail")).settings.paused is False


async def test_the_overview_shows_the_cleaners_count(open_app: FastAPI) -> None:  # noqa: F811
    service: JobService = open_app.state.service
    cleaner: Cleaner = open_app.state.cleaner
    job = (await service.enqueue_many([NewJob(type="t")]))[0].job
    (lease,) = await service.lease(LeaseRequest(worker_id="w"))
    await service.complete_many([Completion(job.id, lease.lease_token, None)])
    now = await service.db_now()
    await cleaner.run_once(now=now + timedelta(days=8))
    open_app.state.dashboard.forget_overview()
    async with client(open_app) as http:
        page = await http.get("/ui/")
    assert page.status_code == 200
    assert "1 finished jobs deleted by the cleaner" in page.text
    assert "succeeded 7d" in page.text and "dlq 30d" in page.text

"""Dashboard pages over ASGI on both backends: access, actions, cross-site refusal, HTML errors.

The browser tests (test_browser.py) cover what a person sees; these cover what a browser must
not be able to do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from job_orchestrator.api.app import create_app
from job_orchestrator.domain.models import FailureInfo, LeaseRequest, NewJob
from job_orchestrator.domain.states import JobState
from job_orchestrator.services.jobs import JobService
from job_orchestrator.settings import Settings

BASE = "http://dashboard.test"
SAME_SITE = {"sec-fetch-site": "same-origin", "origin": "null"}


def build(database_url: str, **options: Any) -> FastAPI:
    settings = Settings(
        database_url=database_url, auto_migrate=False, reaper_interval=3600.0, **options
    )
    return create_app(settings, run_reaper=False)


@pytest.fixture
async def secured(database_url: str) -> AsyncIterator[FastAPI]:
    app = build(database_url, api_keys="reader:read-key,admin:admin-key")
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def open_app(database_url: str) -> AsyncIterator[FastAPI]:
    app = build(database_url)
    async with app.router.lifespan_context(app):
        yield app


def client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url=BASE)


async def dead_job(app: FastAPI) -> int:
    service: JobService = app.state.service
    job = (await service.enqueue_many([NewJob(type="t", max_attempts=1)]))[0].job
    (lease,) = await service.lease(LeaseRequest(worker_id="w"))
    await service.fail(job.id, lease.lease_token, FailureInfo("card declined", retryable=False))
    return job.id


async def login(http: httpx.AsyncClient, key: str, next_: str = "/ui/") -> httpx.Response:
    return await http.post(
        "/ui/login", content=f"key={key}&next={next_}", headers=SAME_SITE, follow_redirects=False
    )


async def test_pages_need_a_key_and_the_login_keeps_it_in_a_strict_cookie(
    secured: FastAPI,
) -> None:
    async with client(secured) as http:
        response = await http.get("/ui/jobs?state=dlq")
        assert response.status_code == 303
        assert response.headers["location"] == "/ui/login?next=%2Fui%2Fjobs%3Fstate%3Ddlq"
        assert (await http.get("/ui/login")).status_code == 200

        bad = await login(http, "nope")
        assert bad.status_code == 401 and "not valid" in bad.text
        good = await login(http, "read-key", "/ui/jobs")
        assert good.status_code == 303 and good.headers["location"] == "/ui/jobs"
        cookie = good.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ui" in cookie
        page = await http.get("/ui/")
        assert page.status_code == 200 and "Overview" in page.text
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src" not in csp  # scripts: self only
        assert "<script>" not in page.text  # no inline scripts anywhere


async def test_login_redirects_only_inside_the_dashboard(secured: FastAPI) -> None:
    async with client(secured) as http:
        for target in ("//evil.example/ui", "https://evil.example/", "/v1/jobs", "/ui\\x"):
            response = await login(http, "read-key", target)
            assert response.headers["location"] == "/ui/", target


async def test_a_reader_sees_but_cannot_act(secured: FastAPI) -> None:
    job_id = await dead_job(secured)
    async with client(secured) as http:
        await login(http, "read-key")
        page = await http.get(f"/ui/jobs/{job_id}")
        assert page.status_code == 200 and "card declined" in page.text
        assert 'id="action-retry"' not in page.text
        refused = await http.post(f"/ui/jobs/{job_id}/retry", headers=SAME_SITE)
        assert refused.status_code == 403 and "admin scope" in refused.text
        refused = await http.post("/ui/dlq/redrive", headers=SAME_SITE)
        assert refused.status_code == 403
    service: JobService = secured.state.service
    assert (await service.get(job_id)).state is JobState.DLQ


async def test_an_admin_acts_but_not_from_another_site(secured: FastAPI) -> None:
    job_id = await dead_job(secured)
    async with client(secured) as http:
        await login(http, "admin-key")
        page = await http.get(f"/ui/jobs/{job_id}")
        assert 'id="action-retry"' in page.text
        for headers in (
            {"origin": "https://evil.example"},
            {"sec-fetch-site": "cross-site", "origin": "null"},
            {"origin": "null"},
        ):
            refused = await http.post(f"/ui/jobs/{job_id}/retry", headers=headers)
            assert refused.status_code == 403, headers
            assert "cannot act" in refused.text
        done = await http.post(
            f"/ui/jobs/{job_id}/retry", headers={"origin": BASE}, follow_redirects=False
        )
        assert done.status_code == 303
        assert done.headers["location"] == f"/ui/jobs/{job_id}?done=redriven"
    service: JobService = secured.state.service
    assert (await service.get(job_id)).state is JobState.PENDING


async def test_the_api_key_header_works_too_and_auth_off_means_admin(
    secured: FastAPI, open_app: FastAPI
) -> None:
    async with client(secured) as http:
        response = await http.get("/ui/workers", headers={"authorization": "Bearer read-key"})
        assert response.status_code == 200
    async with client(open_app) as http:
        assert (await http.get("/ui/login", follow_redirects=False)).status_code == 303
        job_id = await dead_job(open_app)
        page = await http.get(f"/ui/jobs/{job_id}")
        assert 'id="action-retry"' in page.text and "Log out" not in page.text


async def test_errors_are_html_pages(open_app: FastAPI) -> None:
    async with client(open_app) as http:
        missing = await http.get("/ui/jobs/999999")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("text/html")
        assert "does not exist" in missing.text
        assert (await http.get("/ui/jobs/not-a-number")).status_code == 404
        job = (await open_app.state.service.enqueue_many([NewJob(type="t")]))[0].job
        conflict = await http.post(f"/ui/jobs/{job.id}/retry", headers=SAME_SITE)
        assert conflict.status_code == 409 and "only dlq or cancelled" in conflict.text
        bad_id = await http.get("/ui/jobs?id=abc")
        assert bad_id.status_code == 200 and "Job ids are numbers" in bad_id.text
        bad_cursor = await http.get("/ui/jobs?before=xyz")
        assert bad_cursor.status_code == 422


async def test_static_files_are_shipped_and_cacheable(open_app: FastAPI) -> None:
    async with client(open_app) as http:
        for name in ("htmx.min.js", "chart.umd.min.js", "ui.js", "ui.css"):
            response = await http.get(f"/ui/static/{name}")
            assert response.status_code == 200, name
            etag = response.headers["etag"]
            again = await http.get(f"/ui/static/{name}", headers={"if-none-match": etag})
            assert again.status_code == 304
        assert (await http.get("/ui/static/VENDORED.md")).status_code == 404
        assert (await http.get("/ui/static/..%2Fpages.py")).status_code == 404

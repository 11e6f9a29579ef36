"""Another site's page cannot act on /v1 through the developer's browser, auth on or off.

A browser sends text/plain, form and multipart bodies to any site without a CORS preflight,
and says where the request came from (Origin, Sec-Fetch-Site); clients that are not browsers
send neither and keep working.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import BASE_URL, client_for, running_app
from tests.api.helpers import assert_error

EVIL = "http://evil.example"
ADMIN_KEY = "k-admin"


@pytest.fixture(params=["auth_off", "auth_on"])
async def api(
    request: pytest.FixtureRequest, database_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    overrides: dict[str, Any] = {"cors_origins": "http://allowed.example"}
    headers = {}
    if request.param == "auth_on":
        overrides["api_keys"] = f"admin:{ADMIN_KEY}"
        headers = {"authorization": f"Bearer {ADMIN_KEY}"}
    async with running_app(database_url, **overrides) as app, client_for(app) as client:
        client.headers.update(headers)
        yield client


async def job_ids(api: httpx.AsyncClient) -> list[str]:
    response = await api.get("/v1/jobs")
    assert response.status_code == 200, response.text
    return [job["id"] for job in response.json()["jobs"]]


async def dead_job(api: httpx.AsyncClient) -> str:
    job = (await api.post("/v1/jobs", json={"type": "d", "queue": "d", "max_attempts": 1})).json()
    leased = await api.post("/v1/workers/lease", json={"worker_id": "w", "queues": ["d"]})
    (lease,) = leased.json()["leases"]
    failed = await api.post(
        f"/v1/jobs/{job['id']}/fail",
        json={"lease_token": lease["lease_token"], "error": {"message": "m", "retryable": False}},
    )
    assert failed.json()["state"] == "dlq"
    return str(job["id"])


async def test_a_text_plain_enqueue_from_another_site_is_refused(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/v1/jobs",
        content=b'{"type":"x"}',
        headers={"content-type": "text/plain", "origin": EVIL},
    )
    assert_error(response, 403, "forbidden", field=EVIL)
    assert await job_ids(api) == []


@pytest.mark.parametrize(
    "content_type", ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded"]
)
async def test_a_body_that_is_not_json_is_415_even_without_an_origin(
    api: httpx.AsyncClient, content_type: str
) -> None:
    response = await api.post(
        "/v1/jobs", content=b'{"type":"x"}', headers={"content-type": content_type}
    )
    error = assert_error(response, 415, "unsupported_media_type", field=content_type)
    assert "application/json" in error["message"]
    assert await job_ids(api) == []


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": EVIL},
        {"origin": "http://127.0.0.1:9"},  # another port is another origin
        {"origin": "null", "sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},  # same host, another port
        {"origin": "null"},  # an opaque origin (sandboxed frame, data: URL)
    ],
)
async def test_bodiless_and_json_actions_from_another_site_are_refused(
    api: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    pending = (await api.post("/v1/jobs", json={"type": "p"})).json()["id"]
    dead = await dead_job(api)

    cancel = await api.post(f"/v1/jobs/{pending}/cancel", headers=headers)
    assert_error(cancel, 403, "forbidden")
    redrive = await api.post("/v1/dlq/redrive", json={}, headers=headers)
    assert_error(redrive, 403, "forbidden")
    retry = await api.post(f"/v1/jobs/{dead}/retry", headers=headers)
    assert_error(retry, 403, "forbidden")

    assert (await api.get(f"/v1/jobs/{pending}")).json()["state"] == "pending"
    assert (await api.get(f"/v1/jobs/{dead}")).json()["state"] == "dlq"


@pytest.mark.parametrize(
    "headers",
    [
        {},  # the SDK, curl, other languages
        {"origin": BASE_URL},  # this server's own page
        {"origin": "null", "sec-fetch-site": "same-origin"},  # its own page, no-referrer
        {"sec-fetch-site": "none"},  # typed by the user
        {"origin": "http://allowed.example"},  # ORCHESTRATOR_CORS_ORIGINS
    ],
)
async def test_clients_that_are_not_another_site_keep_working(
    api: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    created = await api.post("/v1/jobs", json={"type": "t"}, headers=headers)
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    cancelled = await api.post(f"/v1/jobs/{job_id}/cancel", headers=headers)
    assert cancelled.status_code == 200, cancelled.text


async def test_a_body_without_content_type_is_still_read_as_json(api: httpx.AsyncClient) -> None:
    request = api.build_request("POST", "/v1/jobs", content=b'{"type": "t"}')
    assert "content-type" not in request.headers
    response = await api.send(request)
    assert response.status_code == 201, response.text

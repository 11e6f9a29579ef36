"""An idempotency key belongs to the API key that used it: reusing another owner's key (with
an identical body) creates a job of one's own, never hands back the other owner's job."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from job_orchestrator.api.app import create_app
from job_orchestrator.api.auth import parse_env_keys
from job_orchestrator.domain.models import NewJob
from job_orchestrator.settings import Settings
from job_orchestrator.store import open_store
from job_orchestrator.store.urls import normalize_database_url

KEYS = {"alice": "k-alice", "mallory": "k-mallory"}
ENV_KEYS = ",".join(f"producer:{key}" for key in KEYS.values()) + ",admin:k-admin"
BODY = {"type": "charge", "payload": {"card": "4242", "amount": 100}, "idempotency_key": "order-1"}


def as_(who: str) -> dict[str, str]:
    return {"authorization": f"Bearer {KEYS[who]}"}


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url=database_url, api_keys=ENV_KEYS), run_reaper=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/jobs/batch"])
async def test_another_owners_idempotency_key_does_not_reach_their_job(
    api: httpx.AsyncClient, path: str
) -> None:
    def body() -> dict[str, object]:
        return BODY if path == "/v1/jobs" else {"jobs": [BODY]}

    def job_of(response: httpx.Response) -> dict[str, object]:
        data = response.json()
        return data if path == "/v1/jobs" else data["jobs"][0]  # type: ignore[no-any-return]

    first = await api.post(path, json=body(), headers=as_("alice"))
    assert first.status_code == 201, first.text
    alices = job_of(first)

    theirs = await api.post(path, json=body(), headers=as_("mallory"))
    assert theirs.status_code == 201, theirs.text
    mallorys = job_of(theirs)
    assert mallorys["id"] != alices["id"]
    # Each owner's replay still finds their own job.
    again = await api.post(path, json=body(), headers=as_("alice"))
    assert job_of(again)["id"] == alices["id"]
    again = await api.post(path, json=body(), headers=as_("mallory"))
    assert job_of(again)["id"] == mallorys["id"]
    # And a different body under one's own key is still a conflict.
    changed = {**BODY, "payload": {"amount": 1}}
    conflict = await api.post(
        path, json=changed if path == "/v1/jobs" else {"jobs": [changed]}, headers=as_("alice")
    )
    assert conflict.status_code == 409, conflict.text


async def test_keys_stored_before_scoping_still_match_their_owner(
    api: httpx.AsyncClient, database_url: str
) -> None:
    """Rows written by earlier versions hold the bare key with the owner on the job: after an
    upgrade the owner's replay still finds its job, and another owner's does not."""
    (alice,) = [p.key_id for p in parse_env_keys(f"producer:{KEYS['alice']}").values()]
    store = open_store(database_url)
    try:
        old = NewJob(type=BODY["type"], payload=BODY["payload"], idempotency_key="order-1")
        (result,) = await store.enqueue_many([old])  # no owner: the bare key, as before
    finally:
        await store.close()
    engine = create_async_engine(normalize_database_url(database_url))
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE jobs SET owner = :owner WHERE id = :id"),
                {"owner": alice, "id": result.job.id},
            )
    finally:
        await engine.dispose()

    replay = await api.post("/v1/jobs", json=BODY, headers=as_("alice"))
    assert replay.status_code == 200, replay.text
    assert replay.json()["id"] == str(result.job.id)
    other = await api.post("/v1/jobs", json=BODY, headers=as_("mallory"))
    assert other.status_code == 201, other.text
    assert other.json()["id"] != str(result.job.id)

"""Every endpoint x every scope x no key: forbidden cells are 401/403, allowed cells work."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from job_orchestrator.api.app import create_app
from job_orchestrator.settings import Settings

KEYS = {
    "producer": "k-producer",
    "worker": "k-worker",
    "reader": "k-reader",
    "admin": "k-admin",
}
ENV_KEYS = ",".join(f"{scope}:{key}" for scope, key in KEYS.items())


@dataclass
class Fixture:
    client: httpx.AsyncClient
    pending_id: str
    leased_id: str
    lease_token: str
    dead_id: str
    snoozing_id: str
    snoozing_token: str
    failing_id: str
    failing_token: str


async def call(
    client: httpx.AsyncClient, key: str | None, method: str, path: str, body: Any = None
) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return await client.request(method, path, json=body, headers=headers)


@pytest.fixture
async def env(database_url: str) -> AsyncIterator[Fixture]:
    app = create_app(Settings(database_url=database_url, api_keys=ENV_KEYS), run_reaper=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            admin = KEYS["admin"]
            pending = (
                await call(client, admin, "POST", "/v1/jobs", {"type": "p", "queue": "p"})
            ).json()
            await call(client, admin, "POST", "/v1/jobs", {"type": "l", "queue": "l"})
            lease = (
                await call(
                    client, admin, "POST", "/v1/workers/lease", {"worker_id": "w", "queues": ["l"]}
                )
            ).json()["leases"][0]
            await call(
                client, admin, "POST", "/v1/jobs", {"type": "d", "queue": "d", "max_attempts": 1}
            )
            dead = (
                await call(
                    client, admin, "POST", "/v1/workers/lease", {"worker_id": "w", "queues": ["d"]}
                )
            ).json()["leases"][0]
            failed = await call(
                client,
                admin,
                "POST",
                f"/v1/jobs/{dead['job_id']}/fail",
                {"lease_token": dead["lease_token"], "error": {"message": "x"}},
            )
            assert failed.json()["state"] == "dlq"
            await call(client, admin, "POST", "/v1/jobs", {"type": "s", "queue": "s"})
            snoozing = (
                await call(
                    client, admin, "POST", "/v1/workers/lease", {"worker_id": "w", "queues": ["s"]}
                )
            ).json()["leases"][0]
            await call(client, admin, "POST", "/v1/jobs", {"type": "f", "queue": "f"})
            failing = (
                await call(
                    client, admin, "POST", "/v1/workers/lease", {"worker_id": "w", "queues": ["f"]}
                )
            ).json()["leases"][0]
            schedule = {"every_seconds": 3600, "job": {"type": "t", "queue": "new"}}
            assert (
                await call(client, admin, "PUT", "/v1/schedules/s", schedule)
            ).status_code == 201
            yield Fixture(
                client,
                pending["id"],
                lease["job_id"],
                lease["lease_token"],
                dead["job_id"],
                snoozing["job_id"],
                snoozing["lease_token"],
                failing["job_id"],
                failing["lease_token"],
            )


def endpoints(f: Fixture) -> list[tuple[str, str, Any, set[str]]]:
    """(method, path, body, scopes allowed besides admin)."""
    return [
        ("POST", "/v1/jobs", {"type": "t", "queue": "new"}, {"producer"}),
        ("POST", "/v1/jobs/batch", {"jobs": [{"type": "t", "queue": "new"}]}, {"producer"}),
        ("GET", f"/v1/jobs/{f.pending_id}", None, {"reader"}),
        ("GET", "/v1/jobs", None, {"producer", "reader"}),
        ("GET", f"/v1/jobs/{f.pending_id}/attempts", None, {"reader"}),
        ("GET", "/v1/dlq", None, {"reader"}),
        ("POST", "/v1/workers/lease", {"worker_id": "w", "queues": ["none"]}, {"worker"}),
        ("POST", f"/v1/jobs/{f.leased_id}/heartbeat", {"lease_token": f.lease_token}, {"worker"}),
        (
            "POST",
            "/v1/workers/heartbeat",
            {"heartbeats": [{"job_id": f.leased_id, "lease_token": f.lease_token}]},
            {"worker"},
        ),
        (  # the pending job with another job's token: 200 with a per-item 409, changes nothing
            "POST",
            "/v1/workers/release",
            {"releases": [{"job_id": f.pending_id, "lease_token": f.lease_token}]},
            {"worker"},
        ),
        ("GET", "/v1/metrics", None, {"reader"}),
        ("GET", "/metrics", None, {"reader"}),
        ("GET", "/v1/workers", None, {"reader"}),
        ("GET", "/v1/queues", None, {"reader"}),
        ("GET", "/v1/schedules", None, {"reader"}),
        ("GET", "/v1/schedules/s", None, {"reader"}),
        # State-changing calls last, each on its own job.
        ("POST", f"/v1/jobs/{f.dead_id}/retry", None, set()),
        ("POST", "/v1/dlq/redrive", {}, set()),
        ("POST", f"/v1/jobs/{f.pending_id}/cancel", None, set()),
        ("PUT", "/v1/queues/q", {"paused": False}, set()),
        ("POST", "/v1/queues/q/pause", None, set()),
        ("POST", "/v1/queues/q/resume", None, set()),
        ("PUT", "/v1/schedules/t", {"every_seconds": 60, "job": {"type": "t"}}, set()),
        ("POST", "/v1/schedules/s/pause", None, set()),
        ("POST", "/v1/schedules/s/resume", None, set()),
        ("POST", "/v1/schedules/s/trigger", None, set()),
        ("DELETE", "/v1/schedules/t", None, set()),
        (  # the pending job with another job's token: 200 with a per-item 409, changes nothing
            "POST",
            "/v1/workers/complete",
            {"completions": [{"job_id": f.pending_id, "lease_token": f.lease_token}]},
            {"worker"},
        ),
        (
            "POST",
            f"/v1/jobs/{f.failing_id}/fail",
            {"lease_token": f.failing_token, "error": {"message": "x"}},
            {"worker"},
        ),
        (
            "POST",
            f"/v1/jobs/{f.snoozing_id}/snooze",
            {"lease_token": f.snoozing_token, "delay_seconds": 0},
            {"worker"},
        ),
        (
            "POST",
            f"/v1/jobs/{f.leased_id}/complete",
            {"lease_token": f.lease_token, "result": 1},
            {"worker"},
        ),
    ]


async def test_no_key_and_bad_keys_are_401(env: Fixture) -> None:
    for method, path, body, _ in endpoints(env):
        for key in (None, "wrong", "jo_abc_def"):
            response = await call(env.client, key, method, path, body)
            assert response.status_code == 401, (method, path, key, response.text)
            assert response.json()["error"]["code"] == "unauthorized"
            assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("scope", ["producer", "worker", "reader", "admin"])
async def test_each_scope_gets_exactly_its_cells(env: Fixture, scope: str) -> None:
    for method, path, body, allowed in endpoints(env):
        response = await call(env.client, KEYS[scope], method, path, body)
        if scope == "admin" or scope in allowed:
            assert response.status_code < 400, (scope, method, path, response.text)
        else:
            # Producers see their own jobs only: someone else's job is simply not found.
            assert response.status_code in (403, 404), (scope, method, path, response.text)
            if response.status_code == 403:
                assert response.json()["error"]["code"] == "forbidden"


async def test_open_endpoints_stay_open(env: Fixture) -> None:
    for path in ("/healthz", "/readyz", "/openapi.json"):
        assert (await env.client.get(path)).status_code == 200


async def test_producers_see_only_their_own_jobs(env: Fixture, database_url: str) -> None:
    mine = (await call(env.client, KEYS["producer"], "POST", "/v1/jobs", {"type": "mine"})).json()
    ok = await call(env.client, KEYS["producer"], "GET", f"/v1/jobs/{mine['id']}")
    assert ok.status_code == 200
    theirs = await call(env.client, KEYS["producer"], "GET", f"/v1/jobs/{env.pending_id}")
    assert theirs.status_code == 404
    listed = (await call(env.client, KEYS["producer"], "GET", "/v1/jobs")).json()["jobs"]
    assert [j["id"] for j in listed] == [mine["id"]]
    cancel = await call(env.client, KEYS["producer"], "POST", f"/v1/jobs/{env.pending_id}/cancel")
    assert cancel.status_code == 404
    assert (
        await call(env.client, KEYS["producer"], "POST", f"/v1/jobs/{mine['id']}/cancel")
    ).status_code == 200


async def test_database_keys_and_revocation(database_url: str) -> None:
    from job_orchestrator.services.keys import hash_key
    from job_orchestrator.store import open_store

    store = open_store(database_url)
    key = "jo_abc123_secretpart_with_underscores"
    await store.create_api_key(key_id="abc123", key_hash=hash_key(key), scopes=["reader"], name="t")
    app = create_app(Settings(database_url=database_url), run_reaper=False)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                # A key in the database turns auth on even without ORCHESTRATOR_API_KEYS.
                assert (await call(client, None, "GET", "/v1/jobs")).status_code == 401
                assert (await call(client, key, "GET", "/v1/jobs")).status_code == 200
                assert (await call(client, key + "x", "GET", "/v1/jobs")).status_code == 401
                assert (
                    await call(client, key, "POST", "/v1/jobs", {"type": "t"})
                ).status_code == 403
                assert await store.revoke_api_key("abc123")
                app.state.authenticator._cache.clear()  # skip the 5 s cache
                assert (await call(client, key, "GET", "/v1/jobs")).status_code == 401
    finally:
        await store.close()


async def test_refuses_to_serve_off_loopback_without_keys(database_url: str) -> None:
    app = create_app(Settings(database_url=database_url, host="0.0.0.0"), run_reaper=False)
    with pytest.raises(RuntimeError, match="refusing to serve"):
        async with app.router.lifespan_context(app):
            pass


async def test_security_headers(env: Fixture) -> None:
    response = await env.client.get("/healthz")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "access-control-allow-origin" not in response.headers
    preflight = await env.client.options(
        "/v1/jobs",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


async def test_rate_limit_answers_429_with_retry_after(database_url: str) -> None:
    settings = Settings(database_url=database_url, rate_limit=1, rate_limit_burst=3)
    app = create_app(settings, run_reaper=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            statuses = [
                (await client.post("/v1/jobs", json={"type": "t"})).status_code for _ in range(5)
            ]
            assert statuses[:3] == [201, 201, 201]
            assert statuses[3] == 429
            limited = await client.post("/v1/jobs", json={"type": "t"})
            assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
            assert limited.json()["error"]["code"] == "rate_limited"
            # Nothing was lost: exactly the accepted jobs exist.
            listed = (await client.get("/v1/jobs")).json()["jobs"]
            assert len(listed) == 3


async def test_the_matrix_names_every_endpoint(env: Fixture) -> None:
    """A new route cannot be left out of the matrix: every /v1 operation the app publishes is
    in it (read from its OpenAPI document, which lists every API route)."""
    app = env.client._transport.app  # type: ignore[attr-defined]
    listed = [(method, path) for method, path, _, _ in endpoints(env)]
    published = [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith(("/v1", "/metrics"))
        for method in operations
    ]
    assert len(published) > 20
    missing = []
    for method, path in published:
        pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$")
        if not any(m == method and pattern.match(p) for m, p in listed):
            missing.append(f"{method} {path}")
    assert not missing, missing

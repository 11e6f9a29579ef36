"""A server left connected to a primary that came back as a standby (read-only): every write
answers 503, never 500; /readyz says not ready; once the database takes writes again the server
recovers by itself, without a restart.

The read-only condition is real: ``default_transaction_read_only`` on the test's own database,
and its backends terminated, as a demotion (a restart as a standby) would.
"""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from tests.api.conftest import client_for, running_app
from tests.support.databases import PG_ADMIN_DSN

pytestmark = pytest.mark.postgres

JOB = {"type": "t", "queue": "ro"}


async def _demote(database: str, read_only: bool) -> None:
    admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        setting = "on" if read_only else "off"
        await admin.execute(
            f'ALTER DATABASE "{database}" SET default_transaction_read_only = {setting}'
        )
        if read_only:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                database,
            )
    finally:
        await admin.close()


async def _statuses(api: httpx.AsyncClient) -> dict[str, int]:
    enqueue = await api.post("/v1/jobs", json=JOB)
    batch = await api.post("/v1/jobs/batch", json={"jobs": [JOB, JOB]})
    lease = await api.post("/v1/workers/lease", json={"worker_id": "w", "queues": ["ro"]})
    ready = await api.get("/readyz")
    return {
        "enqueue": enqueue.status_code,
        "batch": batch.status_code,
        "lease": lease.status_code,
        "readyz": ready.status_code,
    }


async def test_a_read_only_database_is_503_and_the_server_recovers_by_itself(
    postgres_url: str,
) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    async with running_app(postgres_url) as app, client_for(app) as api:
        assert (await api.post("/v1/jobs", json=JOB)).status_code == 201
        await _demote(database, read_only=True)
        try:
            # Several rounds: the pool reconnects after each failure, and finds a standby again.
            for _ in range(3):
                assert await _statuses(api) == dict.fromkeys(
                    ("enqueue", "batch", "lease", "readyz"), 503
                )
            body = (await api.post("/v1/jobs", json=JOB)).json()
            assert body["error"]["code"] == "unavailable"
            assert "read-only" in body["error"]["message"]
        finally:
            await _demote(database, read_only=False)
        # Connections opened while read-only stay so: each one is dropped on its first error,
        # so within a few calls every answer is a success again.
        for _ in range(5):
            statuses = await _statuses(api)
            assert set(statuses.values()) <= {503, 200, 201}
            if statuses == {"enqueue": 201, "batch": 201, "lease": 200, "readyz": 200}:
                break
        else:
            raise AssertionError(f"the server did not recover: {statuses}")
        jobs = (await api.get("/v1/jobs", params={"queue": "ro", "limit": 100})).json()["jobs"]
        assert len(jobs) >= 4  # the first enqueue and at least one successful round

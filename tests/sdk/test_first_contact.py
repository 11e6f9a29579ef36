"""What a new user meets first (issue 13): progress kept on success, quiet deadlines, a worker
that says what it does, tasks as objects, asked-for retry delays, waiting for many jobs."""

from __future__ import annotations

import time
from typing import Any

import pytest

from job_orchestrator.sdk import AsyncClient, JobSpec, handler, heartbeat
from tests.sdk.helpers import running_worker

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("lease_seconds", [30, 2])
async def test_the_last_details_survive_a_success(
    server_url: str, aclient: AsyncClient, queue: str, lease_seconds: int
) -> None:
    @handler("progress")
    def progress(_: Any) -> str:
        for i in range(5):
            time.sleep(0.15)  # 0.75 s: a 2 s lease beats once meanwhile, a 30 s one never
            heartbeat({"done": i + 1, "of": 5})
        return "ok"

    specs = [JobSpec("progress", queue=queue, lease_seconds=lease_seconds) for _ in range(10)]
    jobs = await aclient.enqueue_many(specs)
    async with running_worker(server_url, queue, [progress], concurrency=10):
        for job in jobs:
            assert await aclient.wait(job.id, timeout=30) == "ok"
    for job in jobs:
        final = await aclient.get(job.id)
        assert final.heartbeat_details == {"done": 5, "of": 5}

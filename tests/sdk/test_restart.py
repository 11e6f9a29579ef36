"""Completion is never lost to a server outage: it is retried until the server answers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from job_orchestrator.sdk import AsyncClient, handler
from job_orchestrator.verify.launcher import Processes, ServerProcess
from tests.sdk.conftest import SERVER_ARGS, fresh_database
from tests.sdk.helpers import eventually, running_worker

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", "postgres"])
def restartable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server process on a fixed port that a test can stop and start again."""
    for database_url in fresh_database(request, str(request.param)):
        with Processes(tmp_path) as processes:
            server = ServerProcess(
                processes,
                database_url,
                reaper_interval=None,
                poll_interval=None,
                log_level=None,
                args=SERVER_ARGS,
            )
            server.start()
            yield server


async def test_completion_is_retried_through_a_server_restart(
    restartable: ServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    @handler("hold")
    async def hold(_: Any) -> str:
        started.set()
        await release.wait()
        return "survived the restart"

    caplog.set_level(logging.WARNING, logger="job_orchestrator.worker")
    queue = "restart"
    async with AsyncClient(restartable.url) as client:
        job = await client.enqueue("hold", queue=queue, lease_seconds=60)
        async with running_worker(restartable.url, queue, [hold]):
            await asyncio.wait_for(started.wait(), 20)
            await asyncio.to_thread(restartable.stop)
            release.set()  # the handler returns while the server is down

            async def completion_failed() -> bool:
                return "completing 1 jobs failed" in caplog.text

            await eventually(completion_failed, what="a failed completion try")
            await asyncio.to_thread(restartable.start)
            assert await client.wait(job.id, timeout=30) == "survived the restart"
        attempts = await client.attempts(job.id)
    assert [a.outcome for a in attempts] == ["succeeded"]

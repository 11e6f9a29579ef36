"""Completion is never lost to a server outage: it is retried until the server answers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from job_orchestrator.sdk import AsyncClient, handler
from tests.sdk.conftest import SERVER_ARGS, fresh_database
from tests.sdk.helpers import eventually, running_worker
from tests.support.process import free_port, wait_ready

pytestmark = pytest.mark.slow


class RestartableServer:
    """A server process on a fixed port that a test can stop and start again."""

    def __init__(self, database_url: str, log_path: Path) -> None:
        self.database_url = database_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            sys.executable, "-m", "job_orchestrator.cli.server_entry",
            "--database-url", self.database_url, "--port", str(self.port), "--migrate",
            *SERVER_ARGS,
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
        wait_ready(self.url, self.process)

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None


@pytest.fixture(params=["sqlite", "postgres"])
def restartable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RestartableServer]:
    for database_url in fresh_database(request, str(request.param)):
        server = RestartableServer(database_url, tmp_path / "server.log")
        server.start()
        try:
            yield server
        finally:
            server.stop()


async def test_completion_is_retried_through_a_server_restart(
    restartable: RestartableServer, caplog: pytest.LogCaptureFixture
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

"""Rolling restarts: a server stopped with SIGTERM answers its waiting long polls at once,
finishes what is in flight and exits cleanly; one of two servers restarted under load loses
nothing and answers nothing 5xx."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from job_orchestrator.sdk import AsyncClient, handler
from job_orchestrator.verify.launcher import Processes, ServerProcess
from tests.sdk.helpers import running_worker
from tests.support.databases import PostgresTemplate

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

TRACEBACK = "Exception in ASGI application"
CANCELLED = "timeout graceful shutdown exceeded"


@pytest.fixture
def pg_url(postgres_template: PostgresTemplate) -> Iterator[str]:
    yield from postgres_template.fresh()


def server(processes: Processes, url: str, name: str) -> ServerProcess:
    return ServerProcess(
        processes, url, name=name, reaper_interval=0.2, poll_interval=None, log_level="info"
    )


async def test_sigterm_answers_waiting_long_polls_at_once(pg_url: str, tmp_path: Path) -> None:
    with Processes(tmp_path) as processes:
        api = server(processes, pg_url, "stopping")
        api.start()
        async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
            body = {"worker_id": "w", "queues": ["idle"], "wait_seconds": 20}
            polls = [
                asyncio.create_task(client.post("/v1/workers/lease", json=body)) for _ in range(5)
            ]
            await asyncio.sleep(0.5)  # every poll is waiting in the server
            assert not any(poll.done() for poll in polls)
            stopping = asyncio.create_task(asyncio.to_thread(api.stop, 15.0))
            answers = await asyncio.gather(*polls)
            await stopping
    assert [(a.status_code, a.json()) for a in answers] == [(200, {"leases": []})] * 5
    assert api.stopped_gracefully
    log = api.log()
    assert TRACEBACK not in log and CANCELLED not in log, log


async def test_restarting_one_of_two_servers_under_load_loses_nothing(
    pg_url: str, tmp_path: Path
) -> None:
    @handler("work")
    async def work(payload: Any) -> Any:
        await asyncio.sleep(0.005)
        return payload

    statuses: list[int] = []
    ids: list[int] = []

    async def produce(urls: list[str], n: int) -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            for i in range(n):
                for attempt in range(50):  # the other server when this one is down
                    url = urls[(i + attempt) % len(urls)]
                    try:
                        response = await client.post(
                            f"{url}/v1/jobs", json={"type": "work", "queue": "roll", "payload": i}
                        )
                    except httpx.TransportError:
                        await asyncio.sleep(0.02)
                        continue
                    statuses.append(response.status_code)
                    if response.status_code == 201:
                        ids.append(int(response.json()["id"]))
                        break
                await asyncio.sleep(0.005)

    with Processes(tmp_path) as processes:
        restarted, steady = (
            server(processes, pg_url, "restarted"),
            server(processes, pg_url, "steady"),
        )
        restarted.start()
        steady.start(migrate=False)
        urls = [restarted.url, steady.url]
        options = {"concurrency": 5, "poll_seconds": 20.0}
        async with (
            running_worker(restarted.url, "roll", [work], **options),
            running_worker(steady.url, "roll", [work], **options),
        ):
            producers = [asyncio.create_task(produce(urls, 150)) for _ in range(2)]
            await asyncio.sleep(1.0)
            await asyncio.to_thread(restarted.stop, 15.0)
            graceful, first_log = restarted.stopped_gracefully, restarted.log()
            await asyncio.to_thread(restarted.start, migrate=False)
            await asyncio.gather(*producers)
            async with AsyncClient(steady.url) as client:
                results = [await client.wait(job_id, timeout=60) for job_id in ids]
    assert len(ids) == 300 and len(set(ids)) == 300
    assert sorted(results) == sorted(list(range(150)) * 2)
    assert not [s for s in statuses if s >= 500], statuses
    assert graceful
    assert TRACEBACK not in first_log and CANCELLED not in first_log, first_log

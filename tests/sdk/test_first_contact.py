"""What a new user meets first (issue 13): progress kept on success, quiet deadlines, a worker
that says what it does, tasks as objects, asked-for retry delays, waiting for many jobs."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from job_orchestrator.sdk import (
    AsyncClient,
    Client,
    HandlerCancelled,
    JobFailed,
    JobSpec,
    RetryAfter,
    RetryPolicy,
    WaitTimeout,
    handler,
    heartbeat,
    info,
)
from tests.sdk.helpers import eventually, running_worker

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


async def test_a_sync_handler_stopped_at_its_deadline_logs_one_line(
    server_url: str, aclient: AsyncClient, queue: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()

    @handler("overrun_sync")
    def overrun_sync(_: Any) -> None:
        try:
            while True:
                time.sleep(0.05)
                heartbeat()  # raises HandlerCancelled once the deadline has passed
        except HandlerCancelled:
            loop.call_soon_threadsafe(stopped.set)
            raise

    job = await aclient.enqueue(
        "overrun_sync", queue=queue, timeout_seconds=0.5, lease_seconds=60, max_attempts=1
    )
    async with running_worker(server_url, queue, [overrun_sync]):
        await asyncio.wait_for(stopped.wait(), 10)
        with pytest.raises(JobFailed):
            await aclient.wait(job.id, timeout=10)
    gc.collect()  # an unretrieved future exception is logged when the future is collected
    await asyncio.sleep(0)
    shown = [r for r in caplog.records if r.levelno >= logging.INFO]
    about_job = [r.getMessage() for r in shown if f"job={job.id} " in r.getMessage()]
    assert len(about_job) == 1 and "timed out" in about_job[0], about_job
    assert not [r for r in shown if r.name == "asyncio"], [r.getMessage() for r in shown]


async def test_a_handler_can_ask_for_its_retry_delay(
    server_url: str, aclient: AsyncClient, queue: str
) -> None:
    @handler("busy")
    def busy(_: Any) -> int:
        if info().attempt == 1:
            raise RetryAfter("the mail server said 429", retry_after_seconds=0.2)
        return info().attempt

    # Its own backoff would wait five minutes: only the asked-for delay lets it finish here.
    slow_backoff = RetryPolicy(initial_seconds=300, jitter=False)
    job = await aclient.enqueue("busy", queue=queue, retry=slow_backoff)
    async with running_worker(server_url, queue, [busy]):
        assert await aclient.wait(job.id, timeout=20) == 2
    first, _ = await aclient.attempts(job.id)
    assert first.error["type"] == "RetryAfter"


async def test_tracebacks_are_logged_only_when_asked(
    server_url: str, aclient: AsyncClient, queue: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="job_orchestrator")

    @handler("broken")
    def broken(_: Any) -> None:
        raise ValueError("no good")

    for log_tracebacks in (False, True):
        caplog.clear()
        job = await aclient.enqueue("broken", queue=queue, max_attempts=1)
        async with running_worker(server_url, queue, [broken], log_tracebacks=log_tracebacks):
            with pytest.raises(JobFailed):
                await aclient.wait(job.id, timeout=20)
        [line] = [r for r in caplog.records if f"job={job.id} " in r.getMessage()]
        assert "broken failed" in line.getMessage() and "ValueError: no good" in line.getMessage()
        assert "DLQ" in line.getMessage()
        assert (line.exc_info is not None) is log_tracebacks


FIVE_LINE_WORKER = """
    import asyncio, sys
    from job_orchestrator.sdk import Worker, handler

    @handler("hello")
    def hello(name):
        return f"hello {name}"

    @handler("boom")
    def boom(_):
        raise ValueError("no good")

    asyncio.run(Worker(url=sys.argv[1], queues=[sys.argv[2]], handlers=[hello, boom]).run())
"""


async def test_the_five_line_worker_says_what_it_does(
    server_url: str, aclient: AsyncClient, queue: str, tmp_path: Path
) -> None:
    """No logging configured by the user: the start line and one line per finished job
    show anyway, a failure without a traceback."""
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(FIVE_LINE_WORKER))
    process = subprocess.Popen(  # noqa: ASYNC220 - it runs beside the test, not awaited
        [sys.executable, str(script), server_url, queue],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        good = await aclient.enqueue("hello", "Ada", queue=queue)
        bad = await aclient.enqueue("boom", queue=queue, max_attempts=1)
        assert await aclient.wait(good.id, timeout=20) == "hello Ada"
        with pytest.raises(JobFailed):
            await aclient.wait(bad.id, timeout=20)
        await asyncio.sleep(0.3)  # the success line is logged once the batch answer is in
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.to_thread(process.communicate, timeout=20)
    lines = stderr.splitlines()
    [start] = [line for line in lines if "started" in line]
    assert server_url in start and queue in start and "hello,boom" in start
    assert "concurrency 10" in start
    assert any(f"job={good.id} " in line and "hello succeeded" in line for line in lines), lines
    assert any(f"job={bad.id} " in line and "ValueError: no good" in line for line in lines)
    assert "Traceback" not in stderr, stderr


class CountingRequests:
    """Counts the client's requests (the real transport still sends each one)."""

    def __init__(self, client: Client | AsyncClient) -> None:
        self.long_polls = 0
        self.total = 0
        transport: Any = client._http  # a test counting the wire calls
        send = transport.request

        def counting(*args: Any, **kwargs: Any) -> Any:
            self.total += 1
            if (kwargs.get("params") or {}).get("wait_seconds"):
                self.long_polls += 1
            return send(*args, **kwargs)

        transport.request = counting


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_wait_many_does_not_cost_a_long_poll_per_job(
    server_url: str, aclient: AsyncClient, client: Client, queue: str, kind: str
) -> None:
    @handler("step")
    async def step(n: int) -> int:
        await asyncio.sleep(0.02)
        return n * 2

    jobs = await aclient.enqueue_many([JobSpec("step", n, queue=queue) for n in range(40)])
    ids = [job.id for job in jobs]
    used = CountingRequests(client if kind == "sync" else aclient)
    async with running_worker(server_url, queue, [step], concurrency=4):
        if kind == "sync":
            done = await asyncio.to_thread(client.wait_many, ids, 30)
        else:
            done = await aclient.wait_many(ids, timeout=30)
    assert [job.id for job in done] == ids
    assert [job.result for job in done] == [n * 2 for n in range(40)]
    assert used.long_polls <= 5, used.long_polls  # not one per job
    assert used.total <= 2 * len(ids) + 10, used.total


async def test_wait_many_times_out_naming_the_unfinished_jobs(
    aclient: AsyncClient, client: Client, queue: str
) -> None:
    never = await aclient.enqueue("nobody_handles_this", queue=queue)
    with pytest.raises(WaitTimeout) as caught:
        await aclient.wait_many([never.id], timeout=0.5)
    assert caught.value.details == {"job_ids": [never.id]}
    with pytest.raises(WaitTimeout):
        await asyncio.to_thread(client.wait_many, [never.id], 0.5)


async def test_a_type_no_worker_asks_for_is_pointed_out(
    server_url: str, aclient: AsyncClient, queue: str
) -> None:
    @handler("known")
    def known(_: Any) -> None: ...

    orphan = await aclient.enqueue("unknown", queue=queue)  # e.g. a typo in the producer
    async with running_worker(server_url, queue, [known]) as worker:

        async def recorded() -> bool:
            return bool(await aclient.workers(queue=queue, type="known"))

        await eventually(recorded, what="the worker recorded with its types")
        [seen] = await aclient.workers(queue=queue)
        assert (seen.worker_id, seen.types, seen.polling) == (worker.worker_id, ["known"], True)
        assert await aclient.workers(queue=queue, type="unknown") == []
        async with httpx.AsyncClient(base_url=server_url) as browser:
            page = (await browser.get(f"/ui/jobs/{orphan.id}")).text
            assert 'id="no-worker"' in page and "unknown" in page
            workers_page = (await browser.get("/ui/workers")).text
            assert worker.worker_id in workers_page and ">known<" in workers_page
        wait = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("orchestrator")),
            *("jobs", "wait", orphan.id, "--timeout", "0.5", "--url", server_url),
            stderr=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
        )
        _, stderr = await wait.communicate()
    assert wait.returncode == 4
    assert "no worker has asked for type 'unknown'" in stderr.decode(), stderr

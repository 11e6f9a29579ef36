"""Tasks as objects: one definition both sides use, typed so mypy checks the payload."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path
from typing import Any, TypedDict

import pytest
from mypy import api as mypy_api

from job_orchestrator.sdk import AsyncClient, Client, RetryPolicy, Task, Worker, handler, task
from job_orchestrator.sdk.handlers import as_handlers, is_async
from tests.sdk.helpers import running_worker


class Email(TypedDict):
    to: str


def test_a_task_carries_its_type_and_defaults_and_stays_callable() -> None:
    @task("send_email", queue="emails", priority=3, max_attempts=2, timeout_seconds=5)
    def send_email(payload: Email) -> str:
        return f"sent to {payload['to']}"

    assert isinstance(send_email, Task) and send_email.type == "send_email"
    assert send_email({"to": "ada"}) == "sent to ada"  # still the function
    spec = send_email.spec({"to": "ada"}, priority=9)
    assert (spec.type, spec.queue, spec.priority, spec.max_attempts) == (
        "send_email",
        "emails",
        9,
        2,
    )
    assert spec.timeout_seconds == 5 and spec.lease_seconds is None  # unset: server default


def test_tasks_and_plain_handlers_mix_and_the_worker_serves_their_queues() -> None:
    @task("a", queue="fast")
    async def a(_: Any) -> None: ...

    @task("b")
    def b(_: Any) -> None: ...

    @handler("c")
    def c(_: Any) -> None: ...

    registry = as_handlers([a, b, c])
    assert sorted(registry) == ["a", "b", "c"] and is_async(registry["a"])
    worker = Worker(handlers=[a, b, c], url="http://127.0.0.1:1")
    assert worker.queues == ["fast", "default"]
    assert Worker(handlers=[a], url="http://127.0.0.1:1", queues="other").queues == ["other"]


@pytest.mark.slow
async def test_a_task_enqueues_itself_with_either_client(server_url: str) -> None:
    queue = f"q-{uuid.uuid4().hex[:10]}"

    @task("greet", queue=queue, max_attempts=2, retry=RetryPolicy(initial_seconds=0.1))
    async def greet(payload: dict[str, str]) -> str:
        return f"hello {payload['name']}"

    async with AsyncClient(server_url) as aclient:
        first = await greet.enqueue(aclient, {"name": "Ada"})
        with Client(server_url) as client:
            second = greet.enqueue(client, {"name": "Grace"}, priority=5)
        assert (first.type, first.queue, first.max_attempts, first.priority) == (
            "greet",
            queue,
            2,
            0,
        )
        assert second.priority == 5 and second.retry.initial_seconds == 0.1
        async with running_worker(server_url, queue, [greet]):
            assert await aclient.wait(first.id, timeout=20) == "hello Ada"
            assert await aclient.wait(second.id, timeout=20) == "hello Grace"


def test_the_type_checker_checks_a_tasks_payload(tmp_path: Path) -> None:
    snippet = tmp_path / "producer.py"
    snippet.write_text(
        textwrap.dedent(
            """
            from typing import TypedDict

            from job_orchestrator import AsyncClient, Client, Job, task

            class Email(TypedDict):
                to: str

            @task("send_email", queue="emails")
            def send_email(payload: Email) -> None: ...

            async def produce(client: Client, aclient: AsyncClient) -> None:
                ok: Job = send_email.enqueue(client, {"to": "ada@example.com"}, priority=2)
                also_ok: Job = await send_email.enqueue(aclient, {"to": "grace@example.com"})
                send_email.enqueue(client, {"too": "typo@example.com"})
                send_email.enqueue(client, {"to": "x"}, priorty=2)
                send_email.spec({"to": 3})
            """
        )
    )
    out, _err, status = mypy_api.run(
        ["--strict", "--cache-dir", str(tmp_path / "cache"), str(snippet)]
    )
    assert status == 1, out
    errors = [line for line in out.splitlines() if ": error:" in line]
    lines = sorted({int(line.split(":")[1]) for line in errors})
    assert lines == [15, 16, 17], out  # the typo'd key, the typo'd option, the wrong type

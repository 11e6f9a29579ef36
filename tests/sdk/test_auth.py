"""The clients and the worker send `Authorization: Bearer <key>` from api_key or the env."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from job_orchestrator.sdk import AsyncClient, Client, Forbidden, Unauthorized, Worker, handler
from tests.sdk.helpers import running_worker
from tests.support.databases import SqliteTemplate
from tests.support.server import running_server

pytestmark = pytest.mark.slow

ADMIN_KEY = "admin-key-for-sdk-tests-0123456789"
READER_KEY = "reader-key-for-sdk-tests-0123456789"


@pytest.fixture(scope="module")
def auth_server_url(sqlite_template: SqliteTemplate) -> Iterator[str]:
    keys = f"admin:{ADMIN_KEY},reader:{READER_KEY}"
    for database_url in sqlite_template.fresh():
        with running_server(database_url, env={"ORCHESTRATOR_API_KEYS": keys}) as url:
            yield url


def test_a_key_is_required_and_sent(auth_server_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORCHESTRATOR_API_KEY", raising=False)
    with Client(auth_server_url) as anonymous, pytest.raises(Unauthorized):
        anonymous.list_jobs()
    with Client(auth_server_url, api_key=ADMIN_KEY) as admin:
        assert admin.enqueue("t").state.value == "pending"
    with Client(auth_server_url, api_key=READER_KEY) as reader, pytest.raises(Forbidden):
        reader.enqueue("t")
    monkeypatch.setenv("ORCHESTRATOR_API_KEY", ADMIN_KEY)
    with Client(auth_server_url) as from_env:
        assert from_env.list_jobs().jobs


async def test_the_worker_authenticates(auth_server_url: str) -> None:
    @handler("auth_echo")
    async def echo(payload: Any) -> Any:
        return payload

    async with AsyncClient(auth_server_url, api_key=ADMIN_KEY) as client:
        job = await client.enqueue("auth_echo", 5, queue="auth")
        async with running_worker(auth_server_url, "auth", [echo], api_key=ADMIN_KEY):
            assert await client.wait(job.id, timeout=20) == 5


async def test_a_rejected_key_stops_the_worker_with_the_error(auth_server_url: str) -> None:
    @handler("never")
    async def never(_: Any) -> None: ...

    worker = Worker(
        url=auth_server_url, queues=["auth"], handlers=[never], api_key="wrong-key",
        handle_signals=False,
    )  # fmt: skip
    with pytest.raises(Unauthorized):
        await asyncio.wait_for(worker.run(), 10)

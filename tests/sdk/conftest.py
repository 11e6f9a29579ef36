"""SDK fixtures: a real `orchestrator server` process per backend, shared by a test module.

Tests isolate themselves with a queue of their own instead of a server of their own: starting
a server costs about a second, a queue nothing. The reaper runs every 0.2 s so expired leases
and deadlines are acted on quickly where a test needs them to be.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from job_orchestrator.sdk import AsyncClient, Client
from tests.support.databases import PostgresTemplate, SqliteTemplate
from tests.support.server import running_server

SERVER_ARGS = ["--reaper-interval", "0.2"]


def fresh_database(request: pytest.FixtureRequest, backend: str) -> Iterator[str]:
    if backend == "postgres":
        template: PostgresTemplate | SqliteTemplate = request.getfixturevalue("postgres_template")
    else:
        template = request.getfixturevalue("sqlite_template")
    yield from template.fresh()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def database_url_module(request: pytest.FixtureRequest, backend: str) -> Iterator[str]:
    yield from fresh_database(request, backend)


@pytest.fixture(scope="module")
def server_url(database_url_module: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("server") / "server.log"
    with running_server(database_url_module, args=SERVER_ARGS, log_path=log) as url:
        yield url


@pytest.fixture
def queue() -> str:
    return f"q-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def aclient(server_url: str) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(server_url) as the_client:
        yield the_client


@pytest.fixture
def client(server_url: str) -> Iterator[Client]:
    with Client(server_url) as the_client:
        yield the_client

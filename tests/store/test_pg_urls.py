"""Failover URLs for real: the store and the migrations connect with several hosts, the first
of which refuses (as a dead primary does), in both libpq forms."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from job_orchestrator.domain.models import NewJob
from job_orchestrator.store.migrate import migrate
from job_orchestrator.store.postgres import PostgresStore
from tests.support.databases import PG_ADMIN_DSN, PostgresTemplate, admin

pytestmark = pytest.mark.postgres

# Nothing listens on port 1: the first host is down, libpq (and asyncpg) go on to the next.
DEAD = "127.0.0.1:1"


def _live() -> str:
    parts = urlsplit(PG_ADMIN_DSN)
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or 5432}"


def _multi_host(database: str) -> str:
    return f"postgresql://postgres@{DEAD},{_live()}/{database}"


def _query_hosts(database: str) -> str:
    dead_host, dead_port = DEAD.split(":")
    live_host, live_port = _live().split(":")
    return (
        f"postgresql://postgres@/{database}?host={dead_host},{live_host}"
        f"&port={dead_port},{live_port}&target_session_attrs=read-write"
    )


@pytest.fixture
def database(postgres_template: PostgresTemplate) -> Iterator[str]:
    for url in postgres_template.fresh():
        yield url.rsplit("/", 1)[1]


@pytest.mark.parametrize("form", [_multi_host, _query_hosts], ids=["hosts", "query"])
async def test_the_store_skips_a_dead_first_host(database: str, form: object) -> None:
    assert callable(form)
    store = PostgresStore(form(database))
    try:
        (created,) = await store.enqueue_many([NewJob(type="t", queue="q")])
        assert (await store.get_job(created.job.id)).queue == "q"
        await store.ping()  # /readyz: it answers and takes writes
    finally:
        await store.close()


@pytest.mark.parametrize("form", [_multi_host, _query_hosts], ids=["hosts", "query"])
def test_migrate_accepts_every_libpq_form(form: object) -> None:
    assert callable(form)
    name = f"jo_urls_{uuid.uuid4().hex[:10]}"
    admin(f'CREATE DATABASE "{name}"')
    try:
        migrate(form(name))
        migrate(form(name))  # again: up to date, a no-op
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

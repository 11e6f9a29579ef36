"""Fixtures shared by every test layer: real databases on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from job_orchestrator.store import Store, open_store
from tests.support.databases import PostgresTemplate, SqliteTemplate, require_postgres

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    return SqliteTemplate(tmp_path_factory.mktemp("sqlite"))


_pg_template: PostgresTemplate | None = None


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[PostgresTemplate]:
    global _pg_template
    require_postgres()
    if _pg_template is None:
        _pg_template = PostgresTemplate()
    yield _pg_template


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _pg_template is not None:
        _pg_template.drop()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, migrated database of each backend (the test runs once per backend)."""
    if request.param == "postgres":
        template: PostgresTemplate | SqliteTemplate = request.getfixturevalue("postgres_template")
    else:
        template = request.getfixturevalue("sqlite_template")
    yield from template.fresh()


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    the_store = open_store(database_url)
    try:
        yield the_store
    finally:
        await the_store.close()

"""Fixtures shared by every test layer: real databases on both backends.

A third backend, ``pgbouncer``, is PostgreSQL through a private PgBouncer in transaction mode
(tests/support/pgbouncer.py). It runs for the suites in ``PGBOUNCER_SUITES`` only: the whole
store suite (every statement, each driver path) and the API contract and real-server tests
(about 100 tests, against about 380 had it run for every layer); the other layers repeat the
same statements through the same driver.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from job_orchestrator.store import Store, open_store
from tests.support.databases import PostgresTemplate, SqliteTemplate, require_postgres
from tests.support.pgbouncer import PgBouncer, start_pgbouncer

BACKENDS = ["sqlite", "postgres", "pgbouncer"]
PGBOUNCER_SUITES = ("tests/store/", "tests/api/test_contract.py", "tests/api/test_real_server.py")


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


_pgbouncer: PgBouncer | None = None


@pytest.fixture(scope="session")
def pgbouncer(postgres_template: PostgresTemplate) -> PgBouncer:
    global _pgbouncer
    if _pgbouncer is None:
        _pgbouncer = start_pgbouncer()
    return _pgbouncer


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _pgbouncer is not None:
        _pgbouncer.stop()
    if _pg_template is not None:
        _pg_template.drop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The pgbouncer backend runs in PGBOUNCER_SUITES only (see the module docstring)."""
    root = Path(str(config.rootpath))
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("database_url") if callspec is not None else None
        where = Path(str(item.path)).relative_to(root).as_posix()
        if backend == "pgbouncer" and not where.startswith(PGBOUNCER_SUITES):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, migrated database of each backend (the test runs once per backend)."""
    if request.param == "pgbouncer":
        yield from _through_pgbouncer(request)
        return
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


def _through_pgbouncer(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh PostgreSQL database reached through PgBouncer (found by auto-detection), with
    LISTEN on a direct connection as docs/deploy.md recommends; the polling mode without it
    has tests of its own (tests/store/test_pgbouncer.py)."""
    template: PostgresTemplate = request.getfixturevalue("postgres_template")
    bouncer: PgBouncer = request.getfixturevalue("pgbouncer")
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    for direct_url in template.fresh():
        monkeypatch.setenv("ORCHESTRATOR_LISTEN_DATABASE_URL", direct_url)
        yield bouncer.url_for(direct_url)

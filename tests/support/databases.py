"""Real test databases: a migrated template per session, a fresh copy per test.

PostgreSQL: CREATE DATABASE ... TEMPLATE (about 60 ms); SQLite: a copy of a migrated file.
With CI=true an unreachable PostgreSQL fails the tests instead of skipping them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from job_orchestrator.store.migrate import migrate

PG_ADMIN_DSN = os.environ.get(
    "ORCHESTRATOR_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _pg_url(database: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    return f"{base}/{database}"


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def admin(sql: str) -> None:
    asyncio.run(_admin(sql))


def postgres_available() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    try:
        admin("SELECT 1")
    except Exception as error:
        return f"PostgreSQL at {PG_ADMIN_DSN} is not reachable: {type(error).__name__}: {error}"
    return None


def require_postgres() -> None:
    reason = postgres_available()
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


class PostgresTemplate:
    def __init__(self) -> None:
        self.name = f"jo_tmpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin(f'CREATE DATABASE "{self.name}"')
        migrate(_pg_url(self.name))

    def fresh(self) -> Iterator[str]:
        name = f"jo_test_{uuid.uuid4().hex[:12]}"
        admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.name}"')
        try:
            yield _pg_url(name)
        finally:
            admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def drop(self) -> None:
        admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class SqliteTemplate:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / "template.db"
        migrate(f"sqlite:///{self.path}")

    def fresh(self) -> Iterator[str]:
        path = self.directory / f"test_{uuid.uuid4().hex[:12]}.db"
        shutil.copyfile(self.path, path)
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

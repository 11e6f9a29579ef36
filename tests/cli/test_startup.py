"""Startup failures are one or two lines that say what to do, exit 1, never a traceback
(`orchestrator migrate` and `orchestrator server`, as subprocesses)."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from job_orchestrator.store.migrate import head_revision
from tests.cli.test_cli import cli
from tests.support.databases import PG_ADMIN_DSN, PostgresTemplate, _pg_url, admin, require_postgres

pytestmark = pytest.mark.slow


def assert_one_clear_error(result: object, *needles: str) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)  # type: ignore[attr-defined]
    stderr: str = result.stderr  # type: ignore[attr-defined]
    # Progress lines of a migration the server ran first are not part of the error.
    lines = [line for line in stderr.strip().splitlines() if not line.startswith("migrated: ")]
    assert 1 <= len(lines) <= 2, stderr
    assert lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr and "sqlalche.me" not in stderr, stderr
    for needle in needles:
        assert needle in stderr, (needle, stderr)
    return stderr


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def empty_postgres() -> Iterator[str]:
    """A PostgreSQL database that exists, without any schema."""
    require_postgres()
    name = f"jo_empty_{uuid.uuid4().hex[:12]}"
    admin(f'CREATE DATABASE "{name}"')
    try:
        yield _pg_url(name)
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def stamp(database_url: str, revision: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(database_url, timeout=5)
        try:
            await conn.execute("UPDATE alembic_version SET version_num = $1", revision)
        finally:
            await conn.close()

    asyncio.run(run())


def test_migrate_on_a_database_that_does_not_exist_says_createdb() -> None:
    require_postgres()
    name = f"jo_missing_{uuid.uuid4().hex[:8]}"
    result = cli("migrate", "--database-url", _pg_url(name))
    assert_one_clear_error(result, f"database '{name}' does not exist", "createdb", name)


def test_server_on_a_database_that_does_not_exist_says_createdb() -> None:
    require_postgres()
    name = f"jo_missing_{uuid.uuid4().hex[:8]}"
    result = cli("server", "--database-url", _pg_url(name), "--port", str(closed_port()))
    assert_one_clear_error(result, "createdb")


def test_server_on_an_unmigrated_database_says_migrate(empty_postgres: str) -> None:
    result = cli("server", "--database-url", empty_postgres, "--port", str(closed_port()))
    assert_one_clear_error(
        result, "no job-orchestrator schema", "orchestrator migrate --database-url"
    )


def test_migrate_on_a_closed_port_says_what_it_tried() -> None:
    port = closed_port()
    result = cli("migrate", "--database-url", f"postgresql://postgres@127.0.0.1:{port}/x")
    assert_one_clear_error(
        result, f"cannot reach PostgreSQL at 127.0.0.1:{port}", "connection refused"
    )


def test_an_unknown_role_is_named() -> None:
    require_postgres()
    base = PG_ADMIN_DSN.split("://", 1)[1].split("@", 1)[-1]
    result = cli("migrate", "--database-url", f"postgresql://no_such_role_jo@{base}")
    assert_one_clear_error(result, "refused user 'no_such_role_jo'", "check the user and password")


def test_a_schema_newer_than_the_code_is_refused_by_migrate_and_server(
    postgres_template: PostgresTemplate,
) -> None:
    for database_url in postgres_template.fresh():
        stamp(database_url, "9999")
        for args in (["migrate"], ["server", "--port", str(closed_port())]):
            result = cli(*args, "--database-url", database_url)
            assert_one_clear_error(
                result, "revision 9999", "newer version", f"newest is {head_revision()}"
            )


def test_the_first_migrate_says_what_it_applied(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    first = cli("migrate", "--database-url", url)
    assert first.returncode == 0, first.stderr
    assert "up to date" not in first.stdout
    applied = [line for line in first.stdout.splitlines() if line.startswith("applied ")]
    assert applied[0].startswith("applied 0001 (") and applied[-1].startswith(
        f"applied {head_revision()} ("
    )
    assert first.stdout.strip().splitlines()[-1].endswith(f"migrated to {head_revision()}")
    again = cli("migrate", "--database-url", url)
    assert again.returncode == 0 and "already up to date" in again.stdout


def test_a_sqlite_file_in_a_missing_directory_is_named(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}"
    for args in (["migrate"], ["server", "--port", str(closed_port())]):
        assert_one_clear_error(cli(*args, "--database-url", url), "directory", "does not exist")


def test_serving_off_loopback_without_keys_is_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'open.db'}"
    result = cli("server", "--database-url", url, "--host", "0.0.0.0", "--port", str(closed_port()))
    assert_one_clear_error(result, "refusing to serve on 0.0.0.0 without authentication")


def test_malformed_api_keys_are_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    result = cli(
        "server", "--database-url", url, "--port", str(closed_port()),
        extra_env={"ORCHESTRATOR_API_KEYS": "not-a-scoped-key"},
    )  # fmt: skip
    assert_one_clear_error(result, "ORCHESTRATOR_API_KEYS", "scope:key")
